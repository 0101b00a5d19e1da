package main

import (
	"log/syslog"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mailseal/mailseal/config"
)

// The records reach a real syslog socket with facility mail and the
// priority of their level: <22> is mail.info, <20> mail.warning, <19> mail.err.
func TestSyslogFacilityMail(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "log")
	ln, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	w, err := syslog.Dial("unixgram", sock, syslog.LOG_MAIL|syslog.LOG_INFO, "mailseal")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	for _, format := range []string{"text", "json"} {
		log := syslogLogger(w, &config.Config{Log: config.LogConfig{Level: "info", Format: format, Output: "syslog"}})
		log.Info("started", "k", "v")
		log.Warn("tempfailed", "queue_id", "ABC")
		log.Error("broken")
		log.Debug("not shown")
		for _, want := range []string{"<22>", "<20>", "<19>"} {
			_ = ln.SetReadDeadline(time.Now().Add(5 * time.Second))
			buf := make([]byte, 4096)
			n, err := ln.Read(buf)
			if err != nil {
				t.Fatalf("%s: no syslog packet for %s: %v", format, want, err)
			}
			got := string(buf[:n])
			if !strings.HasPrefix(got, want) || !strings.Contains(got, "mailseal[") {
				t.Errorf("%s: packet %q, want priority %s from mailseal", format, got, want)
			}
			if strings.Contains(got, "time=") || strings.Contains(got, `"time"`) {
				t.Errorf("%s: packet %q repeats the time syslog adds", format, got)
			}
		}
	}
}
