package unixodbc

import (
	"encoding/binary"
	"math"
	"math/big"
	"reflect"
	"testing"
	"time"
	"unicode/utf16"
)

func le(vals ...any) []byte {
	var b []byte
	for _, v := range vals {
		b, _ = binary.Append(b, binary.LittleEndian, v)
	}
	return b
}

func wchar(s string) []byte {
	var b []byte
	for _, u := range utf16.Encode([]rune(s)) {
		b = binary.LittleEndian.AppendUint16(b, u)
	}
	return b
}

func TestConvert(t *testing.T) {
	ts := time.Date(2024, 2, 29, 13, 14, 15, 123456789, time.UTC)
	for _, c := range []struct {
		sqlType int16
		b       []byte
		want    any
	}{
		{sqlVarchar, wchar("Jöhn 😀"), "Jöhn 😀"},
		{sqlWLongVarchar, wchar("a\x00b"), "a\x00b"}, // a NUL inside data is data
		{sqlChar, nil, ""},
		{sqlVarchar, []byte{0x3d, 0xd8, 'x', 0}, "\uFFFDx"}, // unpaired surrogate
		{sqlVarchar, []byte{'a', 0, 'b'}, "a"},              // odd byte count: the half unit is dropped
		{sqlUnknownType, wchar("?"), "?"},
		{sqlBit, []byte{1}, true},
		{sqlBit, []byte{0}, false},
		{sqlInteger, le(int64(-42)), int64(-42)},
		{sqlTinyint, le(int64(7)), int64(7)},
		{sqlBigint, []byte("9223372036854775807"), int64(math.MaxInt64)},
		{sqlBigint, []byte("18446744073709551615"), "18446744073709551615"},
		{sqlDecimal, []byte("12.50"), "12.5"},
		{sqlNumeric, []byte("-0.000"), "0"},
		{sqlNumeric, []byte(".50"), "0.5"},
		{sqlNumeric, []byte("-.50"), "-0.5"},
		{sqlNumeric, []byte("100"), "100"},
		{sqlNumeric, []byte("1.5E3"), "1.5E3"},
		{sqlNumeric, []byte("NaN"), "NaN"},
		{sqlDouble, le(0.25), 0.25},
		{sqlReal, le(math.Inf(-1)), math.Inf(-1)},
		{sqlTypeDate, le(int16(2024), uint16(2), uint16(29)), time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC)},
		{sqlTypeTime, le(uint16(13), uint16(14), uint16(15)), time.Date(1, 1, 1, 13, 14, 15, 0, time.UTC)},
		{sqlTypeTimestamp, le(int16(2024), uint16(2), uint16(29), uint16(13), uint16(14), uint16(15), uint32(123456789)), ts},
		{sqlTimestamp, le(int16(-1), uint16(99), uint16(99), uint16(99), uint16(99), uint16(99), uint32(math.MaxUint32)),
			time.Date(-1, 99, 99, 99, 99, 99, int(uint32(math.MaxUint32)%1000000000), time.UTC)}, // nonsense normalised, no panic
		{sqlVarbinary, []byte{0, 1, 2}, []byte{0, 1, 2}},
		{sqlSSTime2, le(uint16(1), uint16(2), uint16(3), uint16(0), uint32(5)), time.Date(1, 1, 1, 1, 2, 3, 5, time.UTC)},
		{sqlGUID, le(uint32(0x01020304), uint16(0x0506), uint16(0x0708), [8]byte{9, 10, 11, 12, 13, 14, 15, 16}),
			"01020304-0506-0708-090a-0b0c0d0e0f10"},
	} {
		col := &column{name: "c", sqlType: c.sqlType, ctype: cTypeFor(c.sqlType)}
		got, err := convert(col, c.b)
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("convert(type %d, % x) = %T %#v, %v; want %T %#v", c.sqlType, c.b, got, got, err, c.want, c.want)
		}
	}
	// Fixed-size types with too few bytes are an error, not a panic.
	for _, st := range []int16{sqlBit, sqlInteger, sqlDouble, sqlTypeDate, sqlTypeTime, sqlTypeTimestamp, sqlGUID} {
		col := &column{name: "c", sqlType: st, ctype: cTypeFor(st)}
		if _, err := convert(col, nil); err == nil {
			t.Errorf("type %d from no bytes: no error", st)
		}
	}
}

// FuzzConvert: any bytes under any SQL type give a value or an error, never a panic.
func FuzzConvert(f *testing.F) {
	f.Add(int16(sqlVarchar), []byte("a\x00b\x00"))
	f.Add(int16(sqlTypeTimestamp), make([]byte, 16))
	f.Add(int16(sqlNumeric), []byte("-.0"))
	f.Add(int16(sqlGUID), make([]byte, 16))
	f.Add(int16(sqlSSTime2), make([]byte, 12))
	f.Fuzz(func(t *testing.T, st int16, b []byte) {
		col := &column{name: "c", sqlType: st, ctype: cTypeFor(st)}
		v, err := convert(col, b)
		if err == nil && v == nil {
			t.Fatalf("type %d: nil value without error", st)
		}
	})
}

// FuzzUTF16: text sent as UTF-16 comes back as it was (invalid UTF-8 as U+FFFD per byte).
func FuzzUTF16(f *testing.F) {
	for _, s := range []string{"", "abc", "Jöhn 😀", "\xff\xfe", "\xed\xa0\x80", "a\x00b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u := appendUTF16(nil, s)
		b := make([]byte, 2*len(u))
		for i, c := range u {
			binary.LittleEndian.PutUint16(b[2*i:], c)
		}
		got, err := convert(&column{sqlType: sqlWVarchar, ctype: sqlCWChar}, b)
		if want := string([]rune(s)); err != nil || got != want {
			t.Fatalf("%q: got %q, %v; want %q", s, got, err, want)
		}
	})
}

// FuzzTrimDecimal: the short form of a decimal has the same value.
func FuzzTrimDecimal(f *testing.F) {
	for _, s := range []string{"12.50", "-0.00", ".5", "100", "1e5", "+.10", " 3.0 ", "-", "."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := trimDecimal(s)
		a, okA := new(big.Rat).SetString(s)
		if !okA {
			return
		}
		b, okB := new(big.Rat).SetString(got)
		if !okB || a.Cmp(b) != 0 {
			t.Fatalf("trimDecimal(%q) = %q: not the same number", s, got)
		}
	})
}
