// Package a2a holds what the gateway understands of the Agent2Agent
// protocol, versions 0.3 and 1.0: method names (JSON-RPC and HTTP+JSON
// bindings) and their one canonical name, which methods stream, how a
// target agent name maps to a backend and its canonical agent name, and
// the agent card rewriting that keeps clients on the gateway.
//
// The gateway does not validate A2A payloads beyond what it decides on: a
// request body must be one strict JSON object, and a JSON-RPC body must be
// a single request for a method of either version (Classify).
package a2a

import "strings"

// MethodUnknown labels requests whose A2A method cannot be told and that
// carry no body the gateway would have to decide on: a GET or DELETE that
// is not an HTTP+JSON operation, or a POST without a body.
const MethodUnknown = "unknown"

// MethodCard labels agent card fetches (/.well-known/agent-card.json and
// the legacy /.well-known/agent.json).
const MethodCard = "agent-card"

// Versions.
const (
	V03 = "0.3"
	V10 = "1.0"
)

// Canonical A2A methods: the 0.3 JSON-RPC names. Every spelling of an
// operation (its 1.0 JSON-RPC name, its HTTP+JSON path in either version)
// is reported under one of these, so a rate-limit descriptor, a metric or
// an audit record that names message/send sees SendMessage and
// POST /v1/message:send too.
const (
	MethodSend         = "message/send"
	MethodStream       = "message/stream"
	MethodTasksGet     = "tasks/get"
	MethodTasksList    = "tasks/list"
	MethodTasksCancel  = "tasks/cancel"
	MethodTasksResub   = "tasks/resubscribe"
	MethodPushSet      = "tasks/pushNotificationConfig/set"
	MethodPushGet      = "tasks/pushNotificationConfig/get"
	MethodPushList     = "tasks/pushNotificationConfig/list"
	MethodPushDelete   = "tasks/pushNotificationConfig/delete"
	MethodExtendedCard = "agent/getAuthenticatedExtendedCard"
)

type methodInfo struct {
	canonical, version string
}

// methods maps every JSON-RPC method name of both versions to its
// canonical name. The 1.0 names are the proto service method names (the
// JSON-RPC binding of the 1.0 specification spells the push-config list
// both ListTaskPushNotificationConfig and ...Configs; both are here), plus
// the names of the 1.0 drafts that SDKs shipped. Names compare as exact
// bytes: "Message/Send" is no method.
var methods = map[string]methodInfo{
	MethodSend:         {MethodSend, V03},
	MethodStream:       {MethodStream, V03},
	MethodTasksGet:     {MethodTasksGet, V03},
	MethodTasksList:    {MethodTasksList, V03},
	MethodTasksCancel:  {MethodTasksCancel, V03},
	MethodTasksResub:   {MethodTasksResub, V03},
	MethodPushSet:      {MethodPushSet, V03},
	MethodPushGet:      {MethodPushGet, V03},
	MethodPushList:     {MethodPushList, V03},
	MethodPushDelete:   {MethodPushDelete, V03},
	MethodExtendedCard: {MethodExtendedCard, V03},

	"SendMessage":                      {MethodSend, V10},
	"SendStreamingMessage":             {MethodStream, V10},
	"GetTask":                          {MethodTasksGet, V10},
	"ListTasks":                        {MethodTasksList, V10},
	"CancelTask":                       {MethodTasksCancel, V10},
	"SubscribeToTask":                  {MethodTasksResub, V10},
	"CreateTaskPushNotificationConfig": {MethodPushSet, V10},
	"GetTaskPushNotificationConfig":    {MethodPushGet, V10},
	"ListTaskPushNotificationConfig":   {MethodPushList, V10},
	"ListTaskPushNotificationConfigs":  {MethodPushList, V10},
	"DeleteTaskPushNotificationConfig": {MethodPushDelete, V10},
	"GetExtendedAgentCard":             {MethodExtendedCard, V10},
	// 1.0 draft spellings.
	"CreatePushNotificationConfig": {MethodPushSet, V10},
	"GetPushNotificationConfig":    {MethodPushGet, V10},
	"ListPushNotificationConfigs":  {MethodPushList, V10},
	"DeletePushNotificationConfig": {MethodPushDelete, V10},
	"GetAuthenticatedExtendedCard": {MethodExtendedCard, V10},
}

// Version returns the protocol version a JSON-RPC method name belongs to,
// or "".
func Version(method string) string { return methods[method].version }

// CanonicalMethod returns the canonical name of a JSON-RPC method name of
// either version, or "" when it is no A2A method.
func CanonicalMethod(method string) string { return methods[method].canonical }

// IsCanonical reports whether m is a canonical method name.
func IsCanonical(m string) bool { return m != "" && methods[m].canonical == m }

// CanonicalMethods lists the canonical method names, for messages.
func CanonicalMethods() []string {
	return []string{MethodSend, MethodStream, MethodTasksGet, MethodTasksList, MethodTasksCancel, MethodTasksResub,
		MethodPushSet, MethodPushGet, MethodPushList, MethodPushDelete, MethodExtendedCard}
}

// Streaming reports whether method answers with an SSE stream. It accepts
// any spelling, and is decided on the canonical name.
func Streaming(method string) bool {
	if c := CanonicalMethod(method); c != "" {
		method = c
	}
	return method == MethodStream || method == MethodTasksResub
}

// Card paths, relative to an agent's base URL.
const (
	CardPath       = "/.well-known/agent-card.json"
	LegacyCardPath = "/.well-known/agent.json"
)

// IsCardPath reports whether rest (the path below the agent) asks for the
// agent card.
func IsCardPath(rest string) bool { return rest == CardPath || rest == LegacyCardPath }

// restMethod maps an HTTP+JSON binding request to its canonical
// operation, or "". The operation is read from the end of the path: an
// agent's HTTP+JSON interface may sit below its root (an interface URL of
// http://geo:9000/a2a/rest serves /a2a/rest/message:send), A2A 0.3
// prefixed the paths with /v1 and 1.0 dropped the prefix, and all of them
// name the same operations.
func restMethod(httpMethod, rest string) string {
	segs := strings.Split(strings.TrimPrefix(rest, "/"), "/")
	n := len(segs)
	last := segs[n-1]
	seg := func(i int) string { // i counts from the end: seg(1) is last
		if i > n {
			return ""
		}
		return segs[n-i]
	}
	post := httpMethod == "POST"
	get := httpMethod == "GET"
	switch {
	case post && last == "message:send":
		return MethodSend
	case post && last == "message:stream":
		return MethodStream
	case get && (last == "extendedAgentCard" || (last == "card" && seg(2) == "v1")):
		return MethodExtendedCard
	case get && last == "tasks":
		return MethodTasksList
	}
	switch {
	case seg(2) == "tasks" && last != "":
		switch {
		case strings.HasSuffix(last, ":cancel") && post:
			return MethodTasksCancel
		case strings.HasSuffix(last, ":subscribe") && (post || get):
			return MethodTasksResub
		case !strings.Contains(last, ":") && get:
			return MethodTasksGet
		}
	case seg(3) == "tasks" && seg(2) != "" && last == "pushNotificationConfigs":
		switch {
		case post:
			return MethodPushSet
		case get:
			return MethodPushList
		}
	case seg(4) == "tasks" && seg(3) != "" && seg(2) == "pushNotificationConfigs" && last != "":
		switch {
		case get:
			return MethodPushGet
		case httpMethod == "DELETE":
			return MethodPushDelete
		}
	}
	return ""
}
