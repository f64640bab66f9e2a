package wortfilter_test

import (
	"fmt"

	"github.com/weltgewebe/weltgewebe/instance/wortfilter"
)

func ExampleMatcher_Check() {
	m := wortfilter.MustCompile(wortfilter.List{
		Words: []string{"schwanz", "*idiot*"},
		Hold:  []string{"Mist"},
	})
	fmt.Println(m.Check("Der Schwanzlurch im Teich")) // a whole word only: let through
	fmt.Println(m.Check("Du VOLLIDIOT"))              // starred: inside a word, any case
	fmt.Println(m.Check("So ein Mist", "i d i o t"))  // block wins over hold, in any text
	fmt.Println(m.Check("So ein Mist!"))
	// Output:
	// { }
	// {block *idiot*}
	// {block *idiot*}
	// {hold Mist}
}
