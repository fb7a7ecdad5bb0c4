package main

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// A model's names, shapes and metadata are written by whoever made the
// file. Printed raw, a control character among them (an ANSI escape, a
// carriage return, a right-to-left override) would reach the terminal; the
// helpers below escape what is not printable.

// printable returns s unchanged when every rune is printable, and quoted in
// Go syntax otherwise ("a\x1b[2Jb"), so that the escaped form cannot be
// mistaken for the name itself.
func printable(s string) string {
	if isPrintable(s) {
		return s
	}
	return strconv.Quote(s)
}

func isPrintable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if !strconv.IsPrint(r) {
			return false
		}
	}
	return true
}

// escapeControls escapes, in place, the runes of a message that are not
// printable, except line breaks and tabs, which messages use for layout.
func escapeControls(s string) string {
	if isPrintable(strings.NewReplacer("\n", "", "\t", "").Replace(s)) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\n' || r == '\t' || strconv.IsPrint(r):
			b.WriteString(s[i : i+n])
		default:
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
		}
		i += n
	}
	return b.String()
}

// escapeJSON escapes the non-printable runes that encoding/json leaves raw
// (DEL, the C1 controls, format characters such as U+202E) as \uXXXX. Such
// runes can only occur inside JSON strings, so the document decodes to the
// same values.
func escapeJSON(b []byte) []byte {
	var out bytes.Buffer
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r >= 0x7f && r != utf8.RuneError && !strconv.IsPrint(r) {
			if r > 0xffff {
				r1, r2 := utf16.EncodeRune(r)
				fmt.Fprintf(&out, `\u%04x\u%04x`, r1, r2)
			} else {
				fmt.Fprintf(&out, `\u%04x`, r)
			}
		} else {
			out.Write(b[i : i+n])
		}
		i += n
	}
	return out.Bytes()
}
