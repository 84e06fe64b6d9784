package main

import (
	"reflect"
	"testing"
	"time"
)

func TestParseArgs(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want options
	}{
		{[]string{"-f"}, options{foreground: true}},
		{[]string{"-cvvv"}, options{console: true, foreground: true, verbose: 3}},
		{[]string{"-rx", "core show settings"}, options{remote: true, exec: "core show settings", hasExec: true}},
		{[]string{"-C", "/x/asterisk.conf", "-rx", "reload"}, options{remote: true, exec: "reload", hasExec: true, confFile: "/x/asterisk.conf"}},
		{[]string{"-C/x.conf", "-fdd"}, options{foreground: true, debug: 2, confFile: "/x.conf"}},
		{[]string{"-x", "help"}, options{remote: true, exec: "help", hasExec: true}},
		{[]string{"-V"}, options{version: true}},
		{[]string{"-r", "-v"}, options{remote: true, verbose: 1}},
		{[]string{"-g", "-f"}, options{foreground: true}},
		{[]string{"--timeout=5", "-rx", "x"}, options{remote: true, exec: "x", hasExec: true, timeout: 5 * time.Second}},
		{[]string{"-r", "--timeout", "0"}, options{remote: true, timeout: -1}},
	} {
		if tc.want.timeout == 0 {
			tc.want.timeout = DefaultTimeout
		} else if tc.want.timeout < 0 {
			tc.want.timeout = 0
		}
		got, err := parseArgs(tc.args)
		if err != nil {
			t.Errorf("%q: %v", tc.args, err)
			continue
		}
		if !reflect.DeepEqual(*got, tc.want) {
			t.Errorf("%q: got %+v want %+v", tc.args, *got, tc.want)
		}
	}
	for _, bad := range [][]string{{"-x"}, {"-C"}, {"-z"}, {"stray"}, {"--", "x"}} {
		if _, err := parseArgs(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
