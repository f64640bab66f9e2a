package antrag

import (
	"bytes"
	"sync"

	"github.com/yuin/goldmark"
)

// md renders CommonMark. goldmark's defaults are what make it safe for text anyone may write:
// raw HTML is dropped ("<!-- raw HTML omitted -->") and links with dangerous schemes
// (javascript:, vbscript:, file:, data: other than images) are emptied.
var md = goldmark.New()

// rendered keeps the HTML of details rendered before, by their source: every resident reads
// the same list of Anträge, and rendering each Antrag's Markdown again for each of them was
// a share of the list's cost (issue 18's profile). The source is the key, so an edited Antrag
// is simply another entry and nothing needs invalidating; the cache is dropped whole when it
// outgrows renderedMax bytes (a town's open Anträge fit many times over).
var rendered = struct {
	sync.Mutex
	html  map[string]string
	bytes int
}{html: map[string]string{}}

const renderedMax = 8 << 20

// RenderMarkdown renders an Antrag's details as HTML that is safe to embed.
func RenderMarkdown(source string) string {
	rendered.Lock()
	html, ok := rendered.html[source]
	rendered.Unlock()
	if ok {
		return html
	}
	var b bytes.Buffer
	if err := md.Convert([]byte(source), &b); err != nil {
		return ""
	}
	html = b.String()
	rendered.Lock()
	defer rendered.Unlock()
	if _, ok := rendered.html[source]; !ok {
		if rendered.bytes += len(source) + len(html); rendered.bytes > renderedMax {
			rendered.html, rendered.bytes = map[string]string{}, len(source)+len(html)
		}
		rendered.html[source] = html
	}
	return html
}
