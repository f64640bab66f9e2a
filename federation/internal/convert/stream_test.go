package convert

import (
	"reflect"
	"strings"
	"testing"

	"github.com/weltgewebe/weltgewebe/instance/eventstore"
)

// The outbox selects a stream's post by payload members (streamOnly): a renamed JSON tag would
// silently empty it of every stream post, or count the drops.
func TestStreamOnlyNamesPayloadMembers(t *testing.T) {
	for _, o := range streamOnly {
		var found bool
		for _, m := range eventstore.Kinds() {
			if m.Name != o.Type {
				continue
			}
			for i := range m.Payload.NumField() {
				f := m.Payload.Field(i)
				if strings.Split(f.Tag.Get("json"), ",")[0] == o.Member && f.Type.Kind() == reflect.Bool {
					found = true
				}
			}
		}
		if !found {
			t.Errorf("%s has no boolean payload member %q", o.Type, o.Member)
		}
	}
}
