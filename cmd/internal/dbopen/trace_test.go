package dbopen

import (
	"context"
	"path/filepath"
	"reflect"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/example/authsvc/store"
	"github.com/example/authsvc/store/sqlite"
)

// TestEveryMethodIsTraced calls every method of store.AuthStore, found by
// reflection so that a method the contract gains is covered without
// touching this test, through TraceAuth on a real SQLite store. Each call
// must end exactly one span, "store.METHOD", of client kind, and a method
// that takes a context must make it a child of the caller's span. The
// arguments are zero values: the store may refuse them, which still makes
// a span.
func TestEveryMethodIsTraced(t *testing.T) {
	contract := reflect.TypeFor[store.AuthStore]()
	if contract.NumMethod() == 0 {
		t.Fatal("store.AuthStore has no methods")
	}
	ctxType := reflect.TypeFor[context.Context]()
	caller := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID:    trace.TraceID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16},
		SpanID:     trace.SpanID{1, 2, 3, 4, 5, 6, 7, 8},
		TraceFlags: trace.FlagsSampled,
	})
	for i := range contract.NumMethod() {
		method := contract.Method(i)
		t.Run(method.Name, func(t *testing.T) {
			// A fresh store each, so that Close or a delete cannot change
			// what another method meets.
			st, err := sqlite.OpenAuth(t.Context(), filepath.Join(t.TempDir(), "auth.db"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = st.Close() }) // a second Close, after the method Close, may fail
			spans := tracetest.NewInMemoryExporter()
			traced := TraceAuth(st, sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans)))

			ctx := trace.ContextWithSpanContext(t.Context(), caller)
			fn := reflect.ValueOf(traced).MethodByName(method.Name)
			args, takesCtx := make([]reflect.Value, method.Type.NumIn()), false
			for j := range args {
				if in := method.Type.In(j); in == ctxType {
					args[j], takesCtx = reflect.ValueOf(ctx), true
				} else {
					args[j] = reflect.Zero(in)
				}
			}
			if method.Type.IsVariadic() {
				fn.CallSlice(args)
			} else {
				fn.Call(args)
			}

			got := spans.GetSpans()
			if len(got) != 1 {
				t.Fatalf("%s ended %d spans %v, want 1", method.Name, len(got), names(got))
			}
			span := got[0]
			if span.Name != "store."+method.Name || span.SpanKind != trace.SpanKindClient {
				t.Errorf("span %q of kind %v, want store.%s of kind client", span.Name, span.SpanKind, method.Name)
			}
			if takesCtx && (span.Parent.SpanID() != caller.SpanID() || span.SpanContext.TraceID() != caller.TraceID()) {
				t.Errorf("span's parent %s in trace %s, want the caller's %s in %s",
					span.Parent.SpanID(), span.SpanContext.TraceID(), caller.SpanID(), caller.TraceID())
			}
		})
	}
}

func names(spans tracetest.SpanStubs) []string {
	var out []string
	for _, s := range spans {
		out = append(out, s.Name)
	}
	return out
}
