package mcp

import "testing"

func TestNonIdempotent(t *testing.T) {
	nonIdempotent := []string{
		"tools/call", "message/send", "message/stream", "SendMessage", "SendStreamingMessage",
		"tasks/cancel", "CancelTask", "tasks/pushNotificationConfig/set", "tasks/pushNotificationConfig/delete",
		"SetTaskPushNotificationConfig", "CreateTaskPushNotificationConfig", "DeleteTaskPushNotificationConfig",
		"resources/subscribe", "resources/unsubscribe", "sampling/createMessage", "elicitation/create",
		"some/unknown", "Tools/List", "tools/list ", "notifications/custom",
	}
	idempotent := []string{
		"", "initialize", "ping", "tools/list", "resources/list", "resources/templates/list", "resources/read",
		"prompts/list", "prompts/get", "completion/complete", "logging/setLevel", "tasks/get", "GetTask",
		"tasks/list", "ListTasks", "tasks/resubscribe", "SubscribeToTask", "tasks/pushNotificationConfig/get",
		"GetExtendedAgentCard", "notifications/initialized", "notifications/cancelled", "notifications/progress",
	}
	for _, m := range nonIdempotent {
		if !NonIdempotent(m) {
			t.Errorf("NonIdempotent(%q) = false", m)
		}
	}
	for _, m := range idempotent {
		if NonIdempotent(m) {
			t.Errorf("NonIdempotent(%q) = true", m)
		}
	}
}

func TestValidProtocolVersion(t *testing.T) {
	for _, v := range []string{"2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25", "2026-07-28", DefaultProtocolVersion, LatestProtocolVersion} {
		if !ValidProtocolVersion(v) {
			t.Errorf("ValidProtocolVersion(%q) = false", v)
		}
	}
	for _, v := range []string{"", "2025-06-18 ", "2025-6-18", "2024-10-07", "latest", "2025-06-18\x00"} {
		if ValidProtocolVersion(v) {
			t.Errorf("ValidProtocolVersion(%q) = true", v)
		}
	}
	if KnownProtocolVersions[len(KnownProtocolVersions)-1] != LatestProtocolVersion {
		t.Error("LatestProtocolVersion is not the last known version")
	}
}

func TestValidSessionID(t *testing.T) {
	for _, tt := range []struct {
		id string
		ok bool
	}{
		{"abc-123_XYZ.~!", true}, {"", false}, {"a b", false}, {"a\r\nb", false}, {"é", false}, {"a\x7f", false},
	} {
		if got := ValidSessionID(tt.id); got != tt.ok {
			t.Errorf("ValidSessionID(%q) = %v", tt.id, got)
		}
	}
}
