package authserver

import "testing"

// The form token binds each value whole: moving bytes from one value to
// the next, a NUL included, gives another token.
func TestFormTokenFieldsAreUnambiguous(t *testing.T) {
	want := formToken("s", "p", "a", "b")
	if got := formToken("s", "p", []string{"a", "b"}...); got != want {
		t.Fatal("the token is not a function of its input")
	}
	for _, other := range [][]string{{"a\x00b"}, {"a", "", "b"}, {"a\x00", "b"}, {"ab"}, {"a", "b", ""}} {
		if want == formToken("s", "p", other...) {
			t.Errorf("%q and [a b] give the same token", other)
		}
	}
	if formToken("s", "p\x00a", "b") == want {
		t.Error("the purpose runs into the first value")
	}
}
