package expr

import (
	"context"
	"testing"
)

func BenchmarkSubstitutePriorityLine(b *testing.B) {
	env := newEnv()
	ctx := context.Background()
	const line = "${CALLERID(num)} ${EXTEN:1} $[${X} + 1]"
	b.ReportAllocs()
	for b.Loop() {
		env.calls = env.calls[:0]
		if _, err := Substitute(ctx, line, env); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSubstituteNoRefs(b *testing.B) {
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		_, _ = Substitute(ctx, "SIP/trunk/5551234,30,tT", nil)
	}
}

func BenchmarkEvalArith(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Eval("5 + 1"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEvalComplex(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Eval(`(4 + 8) * 3 / 2 > 10 & "5551234" : "555(.*)" ? yes :: no`); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSplitArgs(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = SplitArgs("SIP/100&SIP/200,30,tT(x,y)", ',')
	}
}
