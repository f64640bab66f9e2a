package account

import (
	"testing"
	"time"

	"github.com/weltgewebe/weltgewebe/instance/fault"
)

func TestPasswordRule(t *testing.T) {
	own := ownData{Name: "Jana Weber", Email: "jana.weber@demo.weltgewebe.local", Address: "Lützner Straße 30, 04177 Leipzig"}
	for _, tc := range []struct{ pw, code string }{
		{"kurz", "invalid_password"},
		{"neun Zeic", "invalid_password"},
		{string(make([]byte, 1025)), "invalid_password"},
		{"password12", "common_password"},
		{"PASSWORD1234", "common_password"},
		{"pass word 1234", "common_password"},
		{"!!Sommer2025!!", "common_password"},
		{"5chalke04!", "common_password"},
		{"hallo hallo hallo", "common_password"},
		{"abcabcabcabc", "common_password"},
		{"0000000000", "common_password"},
		{"ichliebedich", "common_password"},
		{"..........", "common_password"},
		{"jana.weber@demo.weltgewebe.local", "personal_password"},
		{"JanaWeber2024", "personal_password"},
		{"weber jana !!", "personal_password"},
		{"lützner straße 30", "personal_password"},
		{"Leipzig 04177 Jana", "personal_password"},
		// Enough of its own beside the known parts, or nothing known at all.
		{"Jana mag Kirschkuchen", ""},
		{"weltgewebe-demo", ""},
		{"correct horse battery", ""},
		{"Wäscheleine über dem Hof", ""},
		{"k8#Lw2!pQz", ""},
	} {
		err := checkPassword(tc.pw, own)
		if tc.code == "" && err != nil || tc.code != "" && !fault.Is(err, tc.code) {
			t.Errorf("%q: %v, want %q", tc.pw, err, tc.code)
		}
	}
}

func TestLockoutGrows(t *testing.T) {
	var got []time.Duration
	for n := 1; n <= 10; n++ {
		got = append(got, DefaultLockout.lockAfter(n))
	}
	m := time.Minute
	want := []time.Duration{0, 0, 0, 0, m, 2 * m, 4 * m, 8 * m, 15 * m, 15 * m}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("locks after attempts 1–10: %v, want %v", got, want)
		}
	}
}
