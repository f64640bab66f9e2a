package ortskonto

import (
	"crypto/rand"
	"strings"
)

// crockford is Crockford's base32 alphabet: no I, L, O or U, so that a code read aloud or
// typed from a bank statement is not misread.
const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// newReference draws a Verwendungszweck, WG-XXXXX-XXXXX: 50 random bits.
func newReference() string {
	var b [10]byte
	rand.Read(b[:]) // never fails (crypto/rand panics rather than return short)
	var out strings.Builder
	out.WriteString("WG-")
	for i, x := range b {
		if i == 5 {
			out.WriteByte('-')
		}
		out.WriteByte(crockford[x&31])
	}
	return out.String()
}

// referenceKey is a reference as matched: without spaces and hyphens, upper case, and with
// Crockford's look-alikes read as the digits they stand for (O → 0, I and L → 1). The stored
// key is the canonical code without its hyphens. ok is false when s cannot be a reference.
func referenceKey(s string) (key string, ok bool) {
	var b strings.Builder
	for _, r := range strings.ToUpper(s) {
		switch {
		case r == ' ' || r == '-' || r == '\t':
			continue
		case r == 'O':
			r = '0'
		case r == 'I' || r == 'L':
			r = '1'
		}
		b.WriteRune(r)
	}
	k := b.String()
	if len(k) != 12 || !strings.HasPrefix(k, "WG") {
		return "", false
	}
	for _, r := range k[2:] {
		if !strings.ContainsRune(crockford, r) {
			return "", false
		}
	}
	return k, true
}

// FindReferences returns the reference keys found in a remittance text (a bank statement's
// Verwendungszweck may hold other words around the code, and break it with spaces); each
// FindByReference can take. They are in the order of their "WG" in the text and may overlap:
// ten code-like characters read from an earlier "WG" ("WG Mitte WG-7K3QD-…", a
// Wohngemeinschaft's transfer) can run into the real code, which must still be a candidate
// of its own.
func FindReferences(text string) []string {
	// Read "WG" followed by ten code characters, skipping spaces and hyphens between them.
	up := []rune(strings.ToUpper(text))
	var out []string
	for i := 0; i+1 < len(up); i++ {
		if up[i] != 'W' || up[i+1] != 'G' {
			continue
		}
		var k []rune
		j := i + 2
		for ; j < len(up) && len(k) < 10; j++ {
			r := up[j]
			if r == ' ' || r == '-' {
				continue
			}
			switch r {
			case 'O':
				r = '0'
			case 'I', 'L':
				r = '1'
			}
			if !strings.ContainsRune(crockford, r) {
				break
			}
			k = append(k, r)
		}
		if len(k) == 10 {
			out = append(out, "WG"+string(k))
		}
	}
	return out
}
