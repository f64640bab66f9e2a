package antrag

import (
	"bytes"

	"github.com/yuin/goldmark"
)

// md renders CommonMark. goldmark's defaults are what make it safe for text anyone may write:
// raw HTML is dropped ("<!-- raw HTML omitted -->") and links with dangerous schemes
// (javascript:, vbscript:, file:, data: other than images) are emptied.
var md = goldmark.New()

// RenderMarkdown renders an Antrag's details as HTML that is safe to embed.
func RenderMarkdown(source string) string {
	var b bytes.Buffer
	if err := md.Convert([]byte(source), &b); err != nil {
		return ""
	}
	return b.String()
}
