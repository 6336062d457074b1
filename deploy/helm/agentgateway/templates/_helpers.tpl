{{/* Name of every object: fullnameOverride, else the release name. */}}
{{- define "agentgateway.fullname" -}}
{{- default .Release.Name .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "agentgateway.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "agentgateway.selectorLabels" -}}
app.kubernetes.io/name: {{ include "agentgateway.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* The guide selects pods by `app: agent-gateway` (scrape config, NetworkPolicy, kubectl logs). */}}
{{- define "agentgateway.labels" -}}
{{ include "agentgateway.selectorLabels" . }}
app: {{ include "agentgateway.fullname" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "agentgateway.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "agentgateway.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "agentgateway.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag -}}
{{- if .Values.image.digest -}}
{{ .Values.image.repository }}@{{ .Values.image.digest }}
{{- else -}}
{{ .Values.image.repository }}:{{ $tag }}
{{- end -}}
{{- end -}}

{{- define "agentgateway.configMapName" -}}
{{- if .Values.existingConfigMap -}}
{{ .Values.existingConfigMap }}
{{- else -}}
{{ include "agentgateway.fullname" . }}-config
{{- end -}}
{{- end -}}

{{/* Admin port: health, readiness and metrics. */}}
{{- define "agentgateway.adminPort" -}}
{{- .Values.observability.prometheus.port | default 9090 | int -}}
{{- end -}}

{{/* More than one replica may run: spread, PDB make sense. */}}
{{- define "agentgateway.multiReplica" -}}
{{- if or .Values.autoscaling.enabled (gt (int .Values.replicaCount) 1) -}}true{{- end -}}
{{- end -}}

{{- define "agentgateway.terminationGracePeriodSeconds" -}}
{{- if kindIs "invalid" .Values.terminationGracePeriodSeconds -}}
{{- add (int .Values.preStopSleepSeconds) (int .Values.gateway.shutdownGracePeriodSeconds) 10 -}}
{{- else -}}
{{- .Values.terminationGracePeriodSeconds | int -}}
{{- end -}}
{{- end -}}

{{/* jwt-authn policy from security.jwt. */}}
{{- define "agentgateway.jwtPolicy" -}}
{{- $j := .Values.security.jwt -}}
{{- $p := dict "audiences" $j.audiences -}}
{{- if ne $j.validation "tokenreview" -}}
{{- $_ := set $p "issuer" $j.issuer -}}
{{- if $j.jwksUri }}{{ $_ := set $p "jwksUri" $j.jwksUri }}{{ end -}}
{{- else if $j.issuer -}}
{{- $_ := set $p "issuer" $j.issuer -}}
{{- end -}}
{{- if and $j.validation (ne $j.validation "jwks") }}{{ $_ := set $p "validation" $j.validation }}{{ end -}}
{{- if $j.claimToHeaders }}{{ $_ := set $p "claimToHeaders" $j.claimToHeaders }}{{ end -}}
{{- dict "type" "jwt-authn" "jwt" $p | toYaml -}}
{{- end -}}

{{/* The gateway.yaml generated from the values (no config, no existingConfigMap). */}}
{{- define "agentgateway.generatedConfig" -}}
{{- $v := .Values -}}
{{- $listeners := list -}}
{{- if $v.mcp.enabled -}}
{{- $pol := list -}}
{{- if $v.security.jwt.enabled }}{{ $pol = append $pol (include "agentgateway.jwtPolicy" . | fromYaml) }}{{ end -}}
{{- if $v.security.mcp.enabled }}{{ $pol = append $pol (dict "type" "mcp-authz" "mcp" (dict "rules" $v.security.mcp.rules)) }}{{ end -}}
{{- $pol = concat $pol ($v.mcp.policies | default list) -}}
{{- $route := dict "name" "agent-to-mcp-tools" "match" (dict "path" (dict "prefix" $v.mcp.pathPrefix)) "backends" $v.mcp.backends -}}
{{- if $pol }}{{ $_ := set $route "policies" $pol }}{{ end -}}
{{- $listeners = append $listeners (dict "name" "mcp-listener" "routes" (list $route)) -}}
{{- end -}}
{{- if $v.a2a.enabled -}}
{{- $pol := list -}}
{{- if $v.security.jwt.enabled }}{{ $pol = append $pol (include "agentgateway.jwtPolicy" . | fromYaml) }}{{ end -}}
{{- $pol = append $pol (dict "type" "a2a-authz" "a2a" (dict "rules" $v.a2a.rules)) -}}
{{- $pol = concat $pol ($v.a2a.policies | default list) -}}
{{- $route := dict "name" "agent-to-agent" "match" (dict "path" (dict "prefix" $v.a2a.pathPrefix)) "policies" $pol "backends" $v.a2a.backends -}}
{{- $listeners = append $listeners (dict "name" "a2a-listener" "routes" (list $route)) -}}
{{- end -}}
{{- if not $listeners }}{{ fail "mcp.enabled and a2a.enabled are both false: give a config or existingConfigMap" }}{{ end -}}
{{- $cfg := dict "binds" (list (dict "port" (int $v.gateway.port) "listeners" $listeners)) -}}
{{- $_ := set $cfg "admin" (dict "port" (include "agentgateway.adminPort" . | int)) -}}
{{- $_ := set $cfg "server" (dict "shutdownGracePeriod" (printf "%ds" (int $v.gateway.shutdownGracePeriodSeconds))) -}}
{{- $_ := set $cfg "logging" (dict "format" $v.gateway.logFormat "level" $v.gateway.logLevel) -}}
{{- if $v.observability.enabled -}}
{{- $obs := dict -}}
{{- $o := $v.observability -}}
{{- if $o.opentelemetry.enabled -}}
{{- $otel := dict "enabled" true "endpoint" (required "observability.opentelemetry.endpoint is required when opentelemetry is enabled" $o.opentelemetry.endpoint) "protocol" $o.opentelemetry.protocol -}}
{{- if $o.opentelemetry.tracing.enabled }}{{ $_ := set $otel "tracing" (dict "enabled" true "samplingRate" $o.opentelemetry.tracing.samplingRate) }}{{ end -}}
{{- $_ := set $obs "opentelemetry" $otel -}}
{{- end -}}
{{- if $o.prometheus.enabled -}}
{{- $_ := set $obs "prometheus" (dict "enabled" true "port" (include "agentgateway.adminPort" . | int) "path" ($o.prometheus.path | default "/metrics")) -}}
{{- end -}}
{{- if $o.mcp.enabled }}{{ $_ := set $obs "mcp" (dict "enabled" true) }}{{ end -}}
{{- if $obs }}{{ $_ := set $cfg "observability" $obs }}{{ end -}}
{{- end -}}
{{- if $v.security.mtls.enabled -}}
{{- $m := $v.security.mtls -}}
{{- $_ := set $cfg "security" (dict "mtls" (dict "enabled" true "mode" $m.mode "certificateAuthority" $m.certificateAuthority "serverCert" $m.serverCert "serverKey" $m.serverKey)) -}}
{{- end -}}
{{- if $v.redis.address -}}
{{- $r := dict "address" $v.redis.address -}}
{{- if $v.redis.passwordSecret.name }}{{ $_ := set $r "passwordFile" "/etc/agentgateway-redis/password" }}{{ end -}}
{{- if $v.redis.tls.enabled }}{{ $_ := set $r "tls" (dict "enabled" true) }}{{ end -}}
{{- $rl := dict "redis" $r "failureMode" $v.redis.failureMode -}}
{{- if not $v.autoscaling.enabled }}{{ $_ := set $rl "replicas" (int $v.replicaCount) }}{{ end -}}
{{- $_ := set $cfg "rateLimiting" $rl -}}
{{- end -}}
{{- toYaml $cfg -}}
{{- end -}}

{{/* The gateway.yaml the chart renders: config, else generated. */}}
{{- define "agentgateway.configYAML" -}}
{{- if .Values.config -}}
{{- toYaml .Values.config -}}
{{- else -}}
{{- include "agentgateway.generatedConfig" . -}}
{{- end -}}
{{- end -}}
