// Package a2a holds what the gateway understands of the Agent2Agent
// protocol, versions 0.3 and 1.0: method names (JSON-RPC and HTTP+JSON
// bindings), which methods stream, how a target agent name maps to a
// backend, and the agent card rewriting that keeps clients on the gateway.
//
// The gateway does not validate A2A payloads: it routes, authorizes and
// observes. A body that is not A2A (the seed's {"task": "..."}) passes
// through and is labelled MethodUnknown.
package a2a

import (
	"strings"

	"github.com/agentgateway-go/agentgateway/internal/mcp"
)

// MethodUnknown labels requests whose A2A method cannot be told: a body
// that is not JSON-RPC, or a path that is not an A2A HTTP+JSON operation.
const MethodUnknown = "unknown"

// MethodCard labels agent card fetches (/.well-known/agent-card.json and
// the legacy /.well-known/agent.json).
const MethodCard = "agent-card"

// Versions.
const (
	V03 = "0.3"
	V10 = "1.0"
)

// methods lists the JSON-RPC methods of both versions with their version.
// The 1.0 names are the proto service method names; 0.3 used
// slash-separated names.
var methods = map[string]string{
	"message/send":                        V03,
	"message/stream":                      V03,
	"tasks/get":                           V03,
	"tasks/list":                          V03,
	"tasks/cancel":                        V03,
	"tasks/resubscribe":                   V03,
	"tasks/pushNotificationConfig/set":    V03,
	"tasks/pushNotificationConfig/get":    V03,
	"tasks/pushNotificationConfig/list":   V03,
	"tasks/pushNotificationConfig/delete": V03,
	"agent/getAuthenticatedExtendedCard":  V03,

	"SendMessage":                  V10,
	"SendStreamingMessage":         V10,
	"GetTask":                      V10,
	"ListTasks":                    V10,
	"CancelTask":                   V10,
	"SubscribeToTask":              V10,
	"CreatePushNotificationConfig": V10,
	"GetPushNotificationConfig":    V10,
	"ListPushNotificationConfigs":  V10,
	"DeletePushNotificationConfig": V10,
	"GetExtendedAgentCard":         V10,
}

// Version returns the protocol version a method name belongs to, or "".
func Version(method string) string { return methods[method] }

// Streaming reports whether method answers with an SSE stream.
func Streaming(method string) bool {
	switch method {
	case "message/stream", "tasks/resubscribe", "SendStreamingMessage", "SubscribeToTask":
		return true
	}
	return false
}

// Method returns the A2A method of a request for metrics, traces and logs:
// the JSON-RPC method of a single-message body, the operation of an
// HTTP+JSON path (rest is the path below the agent), MethodCard for a card
// fetch, else MethodUnknown. Method names that are neither 0.3 nor 1.0
// are reported as MethodUnknown too, so a caller cannot mint label values.
func Method(httpMethod, rest string, body *mcp.Body) string {
	if IsCardPath(rest) {
		return MethodCard
	}
	if body != nil && !body.Batch && len(body.Messages) == 1 {
		if m := body.Messages[0].Method; Version(m) != "" {
			return m
		}
		return MethodUnknown
	}
	if m := restMethod(httpMethod, rest); m != "" {
		return m
	}
	return MethodUnknown
}

// Card paths, relative to an agent's base URL.
const (
	CardPath       = "/.well-known/agent-card.json"
	LegacyCardPath = "/.well-known/agent.json"
)

// IsCardPath reports whether rest (the path below the agent) asks for the
// agent card.
func IsCardPath(rest string) bool { return rest == CardPath || rest == LegacyCardPath }

// restMethod maps an HTTP+JSON binding request to its operation. A2A 0.3
// prefixed paths with /v1 and is labelled with 0.3 names; 1.0 dropped the
// prefix and is labelled with 1.0 names.
func restMethod(httpMethod, rest string) string {
	v10 := true
	if p, ok := strings.CutPrefix(rest, "/v1/"); ok {
		rest, v10 = "/"+p, false
	}
	pick := func(v03, v1 string) string {
		if v10 {
			return v1
		}
		return v03
	}
	post := httpMethod == "POST"
	get := httpMethod == "GET"
	switch {
	case post && rest == "/message:send":
		return pick("message/send", "SendMessage")
	case post && rest == "/message:stream":
		return pick("message/stream", "SendStreamingMessage")
	case get && (rest == "/card" || rest == "/extendedAgentCard"):
		return pick("agent/getAuthenticatedExtendedCard", "GetExtendedAgentCard")
	case get && rest == "/tasks":
		return pick("tasks/list", "ListTasks")
	}
	task, ok := strings.CutPrefix(rest, "/tasks/")
	if !ok || task == "" {
		return ""
	}
	id, sub, _ := strings.Cut(task, "/")
	switch {
	case sub == "" && strings.HasSuffix(id, ":cancel") && post:
		return pick("tasks/cancel", "CancelTask")
	case sub == "" && strings.HasSuffix(id, ":subscribe") && (post || get):
		return pick("tasks/resubscribe", "SubscribeToTask")
	case sub == "" && !strings.Contains(id, ":") && get:
		return pick("tasks/get", "GetTask")
	case strings.HasPrefix(sub, "pushNotificationConfigs"):
		hasID := strings.Contains(sub, "/")
		switch {
		case post && !hasID:
			return pick("tasks/pushNotificationConfig/set", "CreatePushNotificationConfig")
		case get && hasID:
			return pick("tasks/pushNotificationConfig/get", "GetPushNotificationConfig")
		case get:
			return pick("tasks/pushNotificationConfig/list", "ListPushNotificationConfigs")
		case httpMethod == "DELETE" && hasID:
			return pick("tasks/pushNotificationConfig/delete", "DeletePushNotificationConfig")
		}
	}
	return ""
}
