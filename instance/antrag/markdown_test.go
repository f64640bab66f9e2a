package antrag

import (
	"fmt"
	"strings"
	"testing"
)

// Details read again are not rendered again (every resident reads the same list), the HTML is
// the same, and the kept HTML stays bounded however many different details come.
func TestRenderedDetailsAreKeptBounded(t *testing.T) {
	src := "Ein **Antrag** mit [Link](https://example.org) und <script>alert(1)</script>"
	first := RenderMarkdown(src)
	if !strings.Contains(first, "<strong>Antrag</strong>") || strings.Contains(first, "<script>") {
		t.Fatalf("rendered: %q", first)
	}
	if allocs := testing.AllocsPerRun(10, func() {
		if RenderMarkdown(src) != first {
			t.Fatal("a second rendering differs")
		}
	}); allocs > 0 {
		t.Fatalf("details read again cost %.0f allocations: rendered again", allocs)
	}
	long := strings.Repeat("x", 20000)
	for i := range 2 * renderedMax / 20000 {
		RenderMarkdown(fmt.Sprintf("%d %s", i, long))
	}
	rendered.Lock()
	n, size := len(rendered.html), rendered.bytes
	rendered.Unlock()
	if size > renderedMax || n == 0 {
		t.Fatalf("kept %d entries, %d bytes; want at most %d bytes", n, size, renderedMax)
	}
}
