package cli

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestSecondsFlagTakesDurationsAndBareSeconds(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Duration
		wantErr string
	}{
		{"30", 30 * time.Second, ""},
		{"1.5", 1500 * time.Millisecond, ""},
		{"500ms", 500 * time.Millisecond, ""},
		{"2m", 2 * time.Minute, ""},
		{"0", 0, ""},
		{"-1", 0, "negative"},
		{"-2s", 0, "negative"},
		{"soon", 0, "not a duration: write it like 30s"},
	}
	for _, tt := range tests {
		var s seconds
		err := s.Set(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Set(%q) = %v, want an error saying %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || time.Duration(s) != tt.want {
			t.Errorf("Set(%q) = %v, %v; want %v", tt.in, time.Duration(s), err, tt.want)
		}
	}
}

func TestPerfRefusesBadSettingsBeforeConnecting(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--producers", "0", "--consumers", "0"}, "nothing to measure"},
		{[]string{"--num-destinations", "0"}, "--num-destinations 0"},
		{[]string{"--message-size", "-1"}, "--message-size -1"},
		{[]string{"--rate", "-5"}, "--rate -5"},
		{[]string{"--destination", "queue://"}, `--destination "queue://"`},
		{[]string{"--persistent", "--non-persistent"}, "contradict"},
		{[]string{"--ack", "never"}, `--ack: "never" is not an acknowledgement mode`},
		{[]string{"--prefetch", "-2"}, "--prefetch -2"},
		{[]string{"--ack", "client-individual", "--ack-every", "10"}, "--ack-every 10 needs --ack client"},
		{[]string{"--ack", "client", "--ack-every", "10", "--prefetch", "5"}, "--ack-every 10 is above --prefetch 5"},
		{[]string{"--broker-pid", "1073741824"}, "--broker-pid 1073741824"},
	}
	for _, tt := range tests {
		var out, errb bytes.Buffer
		// Port 1 on loopback: were the settings accepted, the run would
		// fail to connect instead, with a different message.
		args := append([]string{"perf", "--url", "tcp://127.0.0.1:1"}, tt.args...)
		code := Run(t.Context(), args, strings.NewReader(""), &out, &errb)
		if code == 0 || !strings.Contains(errb.String(), tt.want) || strings.Contains(errb.String(), "cannot connect") {
			t.Errorf("tandem %s: exit %d, stderr %q; want a refusal saying %q", strings.Join(args, " "), code, errb.String(), tt.want)
		}
	}
}

func TestPerfConnectionsRefusesBadSettingsBeforeConnecting(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--connections", "0"}, "--connections 0"},
		{[]string{"--bind", "127.0.0.1,nowhere"}, `--bind "nowhere"`},
		{[]string{"--broker-pid", "1073741824"}, "--broker-pid 1073741824"},
	}
	for _, tt := range tests {
		var out, errb bytes.Buffer
		args := append([]string{"perf", "connections", "--url", "tcp://127.0.0.1:1"}, tt.args...)
		code := Run(t.Context(), args, strings.NewReader(""), &out, &errb)
		if code == 0 || !strings.Contains(errb.String(), tt.want) || strings.Contains(errb.String(), "cannot connect") {
			t.Errorf("tandem %s: exit %d, stderr %q; want a refusal saying %q", strings.Join(args, " "), code, errb.String(), tt.want)
		}
	}
}
