package main

import (
	"log/slog"
	"log/syslog"
	"strings"

	"github.com/mailseal/mailseal/config"
)

// syslogLogger logs through w (facility mail, as Postfix and OpenDKIM do),
// each record at the syslog priority of its level. syslog stamps the time.
func syslogLogger(w *syslog.Writer, cfg *config.Config) *slog.Logger {
	dropTime := func(groups []string, a slog.Attr) slog.Attr {
		if len(groups) == 0 && a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}
	return slog.New(logHandler(syslogLines{w}, cfg, dropTime))
}

// syslogLines receives one slog record per Write (slog's handlers write
// each record at once) and sends it at the priority its level names.
type syslogLines struct{ w *syslog.Writer }

func (s syslogLines) Write(p []byte) (int, error) {
	line := strings.TrimSuffix(string(p), "\n")
	var err error
	switch {
	case strings.HasPrefix(line, "level=ERROR"), strings.HasPrefix(line, `{"level":"ERROR"`):
		err = s.w.Err(line)
	case strings.HasPrefix(line, "level=WARN"), strings.HasPrefix(line, `{"level":"WARN"`):
		err = s.w.Warning(line)
	case strings.HasPrefix(line, "level=DEBUG"), strings.HasPrefix(line, `{"level":"DEBUG"`):
		err = s.w.Debug(line)
	default:
		err = s.w.Info(line)
	}
	if err != nil {
		return 0, err
	}
	return len(p), nil
}
