package dockerfile

import (
	"reflect"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	src := `# syntax comment
FROM golang:1.26 AS build
WORKDIR /src
RUN make \
    build

from gcr.io/distroless/static
COPY --from=build /src/bin/ /usr/local/bin/
`
	got, err := Parse(strings.NewReader(src))
	if err != nil {
		t.Fatal(err)
	}
	want := []Stage{
		{From: "golang:1.26", Name: "build", Body: []Instruction{
			{Cmd: "WORKDIR", Args: "/src", Line: 3},
			{Cmd: "RUN", Args: "make build", Line: 4},
		}},
		{From: "gcr.io/distroless/static", Body: []Instruction{
			{Cmd: "COPY", Args: "--from=build /src/bin/ /usr/local/bin/", Line: 8},
		}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
	if _, err := Parse(strings.NewReader("RUN true\n")); err == nil {
		t.Error("an instruction before FROM parsed")
	}
}
