package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/weltgewebe/weltgewebe/internal/testrig/instancetest"
	"github.com/weltgewebe/weltgewebe/internal/testrig/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m, removeBinary) }

// `weltgewebe admin federate` makes two Ortswebereien follow each other.
func TestAdminFederate(t *testing.T) {
	a := instancetest.Start(t, instancetest.Options{Host: "127.0.0.1"})
	b := instancetest.Start(t, instancetest.Options{Host: "127.0.0.2"})
	var out, errOut bytes.Buffer
	err := run(context.Background(), []string{"admin", "federate", "--database-url", a.DatabaseURL, "--public-url", a.URL, "--dev", b.URL}, &out, &errOut)
	if err != nil || !strings.Contains(out.String(), "following "+b.URL+"/ap/ortsweberei") {
		t.Fatalf("admin federate: %v\n%s%s", err, out.String(), errOut.String())
	}
	deadline := time.Now().Add(60 * time.Second) // a safety net: the loop waits for the rows
	for a.Count(`SELECT count(*) FROM ap_following WHERE accepted`) != 1 || b.Count(`SELECT count(*) FROM ap_following WHERE accepted`) != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the two Ortswebereien do not follow each other")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
