package ortskonto

import (
	"strings"
)

// normalizeIBAN removes spaces and upper-cases; checkIBAN then checks ISO 13616: two letters
// (the country), two check digits from 02 to 98 (ISO 7064 MOD 97-10 never computes 00, 01 or
// 99, which pass mod 97 where 97, 98 or 02 are right: DE99… is DE02… mistyped), up to 30
// letters or digits, and the whole read as a number (country and check digits moved to the
// end, letters as 10…35) is 1 modulo 97.
func normalizeIBAN(s string) string {
	return strings.ToUpper(strings.Join(strings.Fields(s), ""))
}

func checkIBAN(iban string) bool {
	if len(iban) < 15 || len(iban) > 34 {
		return false
	}
	for i, r := range iban {
		switch {
		case i < 2 && r >= 'A' && r <= 'Z':
		case i >= 2 && i < 4 && r >= '0' && r <= '9':
		case i >= 4 && (r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'):
		default:
			return false
		}
	}
	if cd := iban[2:4]; cd == "00" || cd == "01" || cd == "99" {
		return false
	}
	rem := 0
	for _, r := range iban[4:] + iban[:4] {
		if r >= 'A' {
			v := int(r-'A') + 10
			rem = (rem*100 + v) % 97
		} else {
			rem = (rem*10 + int(r-'0')) % 97
		}
	}
	return rem == 1
}

// checkBIC: ISO 9362, 8 or 11 characters: bank (4 letters), country (2 letters), location (2
// letters or digits), branch (3, optional).
func checkBIC(bic string) bool {
	if len(bic) != 8 && len(bic) != 11 {
		return false
	}
	for i, r := range bic {
		letter := r >= 'A' && r <= 'Z'
		digit := r >= '0' && r <= '9'
		if i < 6 && !letter || i >= 6 && !letter && !digit {
			return false
		}
	}
	return true
}
