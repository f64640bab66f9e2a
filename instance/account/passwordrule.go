package account

import (
	_ "embed"
	"slices"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/weltgewebe/weltgewebe/instance/fault"
)

// The password rule. Guessing online is slowed by the rate limits and the lockout; what is left
// to the rule is that the first guesses an attacker tries — the most common passwords, simple
// variants of them, and what anyone can read about the resident — do not work.

// MinPasswordLength is the shortest password accepted, in characters. A few words in a row
// (a passphrase) reach it easily.
const MinPasswordLength = 10

const maxPasswordBytes = 1024

var (
	errPasswordLength = fault.Invalidf("password", "invalid_password",
		"The password must have at least %d characters (and at most %d bytes); a few words in a row are easy to remember and hard to guess.",
		MinPasswordLength, maxPasswordBytes)
	errCommonPassword = fault.Invalidf("password", "common_password",
		"This password is one of the most used ones, or a simple variant of one, and is guessed first; choose another, e.g. a few words nobody else would put together.")
	errPersonalPassword = fault.Invalidf("password", "personal_password",
		"The password must not be made of your name, email address or address: others know them.")
)

// ownData is what others may know about the account, and so must not make up its password.
type ownData struct {
	Name, Email, Address string
}

// checkPassword applies the rule to a password being set for the account described by own.
func checkPassword(pw string, own ownData) error {
	if utf8.RuneCountInString(pw) < MinPasswordLength || len(pw) > maxPasswordBytes {
		return errPasswordLength
	}
	if guessable(pw) {
		return errCommonPassword
	}
	if personal(pw, own) {
		return errPersonalPassword
	}
	return nil
}

// commonpasswords.txt is the common-password list of zxcvbn-ts (MIT licence; where it comes
// from: commonpasswords.LICENSE), lower case, most common first.
//
//go:embed commonpasswords.txt
var commonPasswordList string

// localCommon adds what that list, gathered mostly from English-speaking sites, lacks: German
// keyboard rows and favourites, and the names of this software, which every instance shows.
var localCommon = []string{
	"qwertz", "qwertzu", "qwertzui", "qwertzuio", "qwertzuiop", "qwertzuiopü", "asdfghjklöä", "yxcvbnm",
	"ichliebedich", "ichliebdich", "hallihallo", "geheimnis", "passwortpasswort", "kennwort", "bvb09",
	"weltgewebe", "ortsweberei", "garnrolle",
}

// commonPasswords is the sorted list, built on first use: 49,000 strings that only the few
// requests that set a password need.
var commonPasswords = sync.OnceValue(func() []string {
	list := strings.Split(strings.TrimSpace(commonPasswordList), "\n")
	list = append(list, localCommon...)
	slices.Sort(list)
	return slices.Compact(list)
})

func isCommon(s string) bool {
	_, found := slices.BinarySearch(commonPasswords(), s)
	return found
}

// guessable reports whether pw is a common password or a simple variant of one: other case,
// spaces or punctuation between its parts, digits and signs around it, letters written as
// digits ("p@ssw0rd"), or repeated; or whether it is made of too few different characters
// ("aaaaaaaaaa", "          ", "abababababab").
func guessable(pw string) bool {
	lower := strings.ToLower(pw)
	n := alnum(lower)
	if distinctRunes(n) < 5 {
		return true
	}
	notLetter := func(r rune) bool { return !unicode.IsLetter(r) }
	candidates := []string{
		n,
		strings.TrimFunc(n, unicode.IsDigit),
		// Digits and signs around it dropped before reading digits as letters; at the start
		// they may be letters already ("5chalke04" is schalke).
		alnum(deleet(strings.TrimFunc(lower, notLetter))),
		alnum(deleet(strings.TrimRightFunc(lower, notLetter))),
	}
	for _, c := range candidates {
		if c == "" || isCommon(c) || isCommon(repeatedUnit(c)) {
			return true
		}
	}
	return false
}

// personal reports whether pw is made of what others know about the account: once its name,
// email address (or the part before the @), address and their words are taken out, fewer than
// four letters remain ("Jana Weber 1990", "jana.weber@example.org", "Lützner Straße 30!").
func personal(pw string, own ownData) bool {
	var parts []string
	add := func(s string, words bool) {
		parts = append(parts, alnum(strings.ToLower(s)))
		if words {
			parts = append(parts, strings.FieldsFunc(strings.ToLower(s), func(r rune) bool {
				return !unicode.IsLetter(r) && !unicode.IsDigit(r)
			})...)
		}
	}
	local, _, _ := strings.Cut(own.Email, "@")
	add(own.Name, true)
	add(own.Address, true)
	add(local, true)
	// The domain's words are not the resident's: demo.weltgewebe.local is everyone's there.
	add(own.Email, false)
	// Longest first, so that a whole name goes before its first word does.
	slices.SortFunc(parts, func(a, b string) int { return len(b) - len(a) })
	rest := alnum(strings.ToLower(pw))
	found := false
	for _, p := range parts {
		if utf8.RuneCountInString(p) >= 3 && strings.Contains(rest, p) {
			rest = strings.ReplaceAll(rest, p, "")
			found = true
		}
	}
	letters := 0
	for _, r := range rest {
		if unicode.IsLetter(r) {
			letters++
		}
	}
	return found && letters < 4
}

// alnum keeps the letters and digits of s.
func alnum(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			return r
		}
		return -1
	}, s)
}

var leet = strings.NewReplacer("0", "o", "1", "i", "3", "e", "4", "a", "5", "s", "7", "t", "@", "a", "$", "s", "!", "i")

func deleet(s string) string { return leet.Replace(s) }

func distinctRunes(s string) int {
	seen := map[rune]bool{}
	for _, r := range s {
		seen[r] = true
	}
	return len(seen)
}

// repeatedUnit is the shortest u with s = u repeated at least twice, or s itself.
func repeatedUnit(s string) string {
	for size := 1; size <= len(s)/2; size++ {
		if len(s)%size == 0 && strings.Repeat(s[:size], len(s)/size) == s {
			return s[:size]
		}
	}
	return s
}
