package multiraft

import (
	"context"
	"fmt"
	"log/slog"
)

// raftLogger hands etcd Raft's log lines to slog: its routine chatter
// (elections, term changes) at Debug, warnings and errors as such.
type raftLogger struct {
	log *slog.Logger
}

func (l *raftLogger) out(level slog.Level, msg string) {
	if l.log.Enabled(context.Background(), level) {
		l.log.Log(context.Background(), level, "raft: "+msg)
	}
}

func (l *raftLogger) Debug(v ...any) { l.out(slog.LevelDebug, fmt.Sprint(v...)) }
func (l *raftLogger) Debugf(format string, v ...any) {
	l.out(slog.LevelDebug, fmt.Sprintf(format, v...))
}
func (l *raftLogger) Info(v ...any) { l.out(slog.LevelDebug, fmt.Sprint(v...)) }
func (l *raftLogger) Infof(format string, v ...any) {
	l.out(slog.LevelDebug, fmt.Sprintf(format, v...))
}
func (l *raftLogger) Warning(v ...any) { l.out(slog.LevelWarn, fmt.Sprint(v...)) }
func (l *raftLogger) Warningf(format string, v ...any) {
	l.out(slog.LevelWarn, fmt.Sprintf(format, v...))
}
func (l *raftLogger) Error(v ...any) { l.out(slog.LevelError, fmt.Sprint(v...)) }
func (l *raftLogger) Errorf(format string, v ...any) {
	l.out(slog.LevelError, fmt.Sprintf(format, v...))
}

// Fatal and Panic mean Raft found its invariants broken (a log that lost
// committed entries): continuing would serve wrong data.
func (l *raftLogger) Fatal(v ...any) { l.Panic(v...) }
func (l *raftLogger) Fatalf(format string, v ...any) {
	l.Panicf(format, v...)
}
func (l *raftLogger) Panic(v ...any) {
	msg := fmt.Sprint(v...)
	l.out(slog.LevelError, msg)
	panic("raft: " + msg)
}
func (l *raftLogger) Panicf(format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	l.out(slog.LevelError, msg)
	panic("raft: " + msg)
}
