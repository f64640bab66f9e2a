package vocab

import (
	"encoding/json"
	"fmt"
	"testing"
)

// benchCreate is an activity as the inbox measurement sends it (cmd/wgbench): a Create of a
// reply, about 630 bytes.
var benchCreate = []byte(fmt.Sprintf(`{"@context":"https://www.w3.org/ns/activitystreams","actor":"http://127.0.0.2:40000/users/bench7","id":"http://127.0.0.2:40000/users/bench7/statuses/1007/activity","object":{"attributedTo":"http://127.0.0.2:40000/users/bench7","content":"%s","id":"http://127.0.0.2:40000/users/bench7/statuses/1007","inReplyTo":"https://example.org/ap/antraege/0193b5a2-6b2c-7f3a-9d1e-0a1b2c3d4e5f","to":["https://www.w3.org/ns/activitystreams#Public"],"type":"Note"},"to":["https://www.w3.org/ns/activitystreams#Public"],"type":"Create"}`,
	`\u003cp\u003eAntwort Nummer 1007: \u003cstrong\u003edafür\u003c/strong\u003e, wenn es leise bleibt.\u003c/p\u003e`))

func BenchmarkDecodeHead(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeHead(benchCreate); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeActivity(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeActivity(benchCreate); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkObjectFields compares the splitting of an object into its members with the
// encoding/json way it replaced, in the same run (this machine's speed varies from minute to
// minute): sub-benchmarks alternate.
func BenchmarkObjectFields(b *testing.B) {
	std := func(b []byte) (fields, error) {
		var f fields
		return f, json.Unmarshal(b, &f)
	}
	for range 3 {
		b.Run("encoding-json", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := std(benchCreate); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("jsontext", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := objectFields(benchCreate); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
