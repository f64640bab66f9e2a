package httpsig

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

const (
	headerSignature = "Signature"
	headerDigest    = "Digest"
	headerDate      = "Date"
	headerHost      = "Host"

	// requestTarget is the pseudo-header that binds a signature to method, path and query.
	requestTarget = "(request-target)"

	algRSASHA256 = "rsa-sha256"
	algHS2019    = "hs2019"
)

// sigParams is a parsed Signature header.
type sigParams struct {
	keyID     string
	algorithm string   // lower case; "" if the sender left it out
	headers   []string // lower case, in signing order
	signature string   // base64, as sent
	created   string   // digits or ""
	expires   string   // digits or ""
}

// parseSignature reads a Signature header value strictly (quoted strings, no duplicate
// parameters), and then checks that every value can be handed to the library unchanged.
//
// The library splits the header on every comma and strips quotes, which a keyId such as
// `x",headers="date` would confuse. Verify therefore never lets the library see the header
// the sender wrote: it gives it format() of what parseSignature read, and this check is
// what makes that rewrite faithful — the library and our own checks see one and the same
// set of parameters.
func parseSignature(s string) (sigParams, error) {
	kv, err := parseParams(s)
	if err != nil {
		return sigParams{}, err
	}
	var p sigParams
	p.keyID = kv["keyId"]
	p.algorithm = strings.ToLower(kv["algorithm"])
	p.signature = kv["signature"]
	p.created = kv["created"]
	p.expires = kv["expires"]
	if h, ok := kv["headers"]; ok {
		for _, f := range strings.Fields(h) {
			p.headers = append(p.headers, strings.ToLower(f))
		}
	} else {
		// The draft's default when "headers" is absent; Verify will refuse it, since it
		// signs neither the target nor the host.
		p.headers = []string{"date"}
	}
	switch {
	case p.keyID == "":
		return sigParams{}, fmt.Errorf("%w: no keyId", ErrMalformedSignature)
	case p.signature == "":
		return sigParams{}, fmt.Errorf("%w: no signature", ErrMalformedSignature)
	case len(p.headers) == 0:
		return sigParams{}, fmt.Errorf("%w: empty headers list", ErrMalformedSignature)
	case !plainValue(p.keyID) || !plainValue(p.algorithm):
		return sigParams{}, fmt.Errorf("%w: keyId or algorithm contains a quote, comma or control character", ErrMalformedSignature)
	case !digits(p.created) || !digits(p.expires):
		return sigParams{}, fmt.Errorf("%w: created and expires must be integers", ErrMalformedSignature)
	}
	if _, err := base64.StdEncoding.DecodeString(p.signature); err != nil {
		return sigParams{}, fmt.Errorf("%w: signature is not base64: %v", ErrMalformedSignature, err)
	}
	for _, h := range p.headers {
		if !plainValue(h) {
			return sigParams{}, fmt.Errorf("%w: bad header name %q", ErrMalformedSignature, h)
		}
	}
	return p, nil
}

// format writes the parameters in the one form the library parses unambiguously.
func (p sigParams) format() string {
	var b strings.Builder
	b.WriteString(`keyId="` + p.keyID + `"`)
	if p.algorithm != "" {
		b.WriteString(`,algorithm="` + p.algorithm + `"`)
	}
	if p.created != "" {
		b.WriteString(`,created=` + p.created)
	}
	if p.expires != "" {
		b.WriteString(`,expires=` + p.expires)
	}
	b.WriteString(`,headers="` + strings.Join(p.headers, " ") + `"`)
	b.WriteString(`,signature="` + p.signature + `"`)
	return b.String()
}

// parseParams splits `name="value", name=value` pairs. Unknown names are kept (and ignored
// by the caller, as the draft asks); a name given twice is an error, because senders and
// intermediaries might disagree about which one counts.
func parseParams(s string) (map[string]string, error) {
	out := make(map[string]string, 6)
	i := 0
	skip := func(set string) {
		for i < len(s) && strings.IndexByte(set, s[i]) >= 0 {
			i++
		}
	}
	for {
		skip(" \t,")
		if i == len(s) {
			break
		}
		start := i
		for i < len(s) && isTokenChar(s[i]) {
			i++
		}
		name := s[start:i]
		if name == "" || i == len(s) || s[i] != '=' {
			return nil, fmt.Errorf("%w: expected name=value at offset %d", ErrMalformedSignature, start)
		}
		i++
		var val string
		if i < len(s) && s[i] == '"' {
			var closed bool
			if val, i, closed = quoted(s, i+1); !closed {
				return nil, fmt.Errorf("%w: unterminated quoted value for %q", ErrMalformedSignature, name)
			}
		} else {
			// Unquoted values (created=1234) run to the next comma or blank.
			start := i
			for i < len(s) && s[i] != ',' && s[i] != ' ' && s[i] != '\t' {
				i++
			}
			val = s[start:i]
		}
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("%w: parameter %q given twice", ErrMalformedSignature, name)
		}
		out[name] = val
		skip(" \t")
		if i < len(s) && s[i] != ',' {
			return nil, fmt.Errorf("%w: junk after %q at offset %d", ErrMalformedSignature, name, i)
		}
	}
	return out, nil
}

// quoted reads a quoted string's value from s[i:], just after its opening quote, and returns
// it with the offset after the closing quote.
func quoted(s string, i int) (val string, next int, closed bool) {
	// Without escapes the value is the text between the quotes, not copied: the signature
	// alone is some 350 bytes, on every inbox request.
	if j := strings.IndexAny(s[i:], `"\`); j >= 0 && s[i+j] == '"' {
		return s[i : i+j], i + j + 1, true
	}
	var b strings.Builder
	for i < len(s) {
		c := s[i]
		i++
		if c == '\\' && i < len(s) {
			b.WriteByte(s[i])
			i++
			continue
		}
		if c == '"' {
			return b.String(), i, true
		}
		b.WriteByte(c)
	}
	return "", i, false
}

// isTokenChar reports whether c may appear in an RFC 9110 token.
func isTokenChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// plainValue reports whether v survives the library's comma-splitting and quote-trimming.
func plainValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c == '"' || c == ',' || c == '\\' || c < 0x20 || c == 0x7f {
			return false
		}
	}
	return true
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return len(s) <= 18
}

// targetOf returns the path and query exactly as they travel on the wire.
//
// The library signs r.URL.Path, which Go has already percent-decoded; a peer signs (and
// checks) the encoded form. On the server the raw request line is in r.RequestURI; on the
// client URL.RequestURI() is what net/http will write. Handing the library a URL whose Path
// is that encoded string makes both sides agree for /users/a%2Fb as well as for /inbox.
func targetOf(r *http.Request) *url.URL {
	uri := r.RequestURI
	if !strings.HasPrefix(uri, "/") {
		uri = r.URL.RequestURI()
	}
	path, query, _ := strings.Cut(uri, "?")
	return &url.URL{Path: path, RawQuery: query}
}

// bodyExpected reports whether a request must carry a signed Digest. Any method other than
// GET and HEAD is treated as having a body even when it is empty, because Mastodon does the
// same, and because otherwise stripping a POST's body and Digest would leave a valid
// signature over "no body".
func bodyExpected(method string, body []byte) bool {
	return len(body) > 0 || (method != http.MethodGet && method != http.MethodHead)
}
