package instance_test

import (
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/weltgewebe/weltgewebe/instance/eventstore"
)

// Every event kind defined in code has its section in docs/EVENTS.md, with the right version and
// visibility, and every payload field appears in its example. The instance package imports
// every domain package, so every kind is registered here.
func TestEveryEventKindIsDocumented(t *testing.T) {
	doc, err := os.ReadFile("../docs/EVENTS.md")
	if err != nil {
		t.Fatal(err)
	}
	sections := map[string]string{}
	for _, part := range strings.Split(string(doc), "\n### ")[1:] {
		heading, body, _ := strings.Cut(part, "\n")
		sections[strings.TrimSpace(heading)] = body
	}
	kinds := eventstore.Kinds()
	if len(kinds) < 30 {
		t.Fatalf("only %d kinds registered; are the domain packages imported?", len(kinds))
	}
	for _, k := range kinds {
		if strings.HasPrefix(k.Name, "Test") {
			continue
		}
		heading := fmt.Sprintf("%s v%d", k.Name, k.Version)
		body, ok := sections[heading]
		if !ok {
			t.Errorf("docs/EVENTS.md has no section %q", heading)
			continue
		}
		vis := "Private."
		if k.Public {
			vis = "Public."
		}
		if !strings.HasPrefix(strings.TrimSpace(body), vis) {
			t.Errorf("%s: the section must start with %q", heading, vis)
		}
		_, example, _ := strings.Cut(body, "```json\n")
		example, _, _ = strings.Cut(example, "```")
		dec := json.NewDecoder(strings.NewReader(example))
		dec.DisallowUnknownFields()
		if err := dec.Decode(reflect.New(k.Payload).Interface()); err != nil {
			t.Errorf("%s: the example does not decode into %v: %v", heading, k.Payload, err)
		}
		for i := range k.Payload.NumField() {
			name, _, _ := strings.Cut(k.Payload.Field(i).Tag.Get("json"), ",")
			if !strings.Contains(example, `"`+name+`"`) {
				t.Errorf("%s: the example does not show payload field %q", heading, name)
			}
		}
	}
}
