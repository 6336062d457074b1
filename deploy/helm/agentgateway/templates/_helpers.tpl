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

{{/* Plain manifests and dashboards select pods by `app: agent-gateway` (scrape config, NetworkPolicy, kubectl logs). */}}
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

{{/*
What the gateway's jwt-authn policies need from the cluster, as JSON:
  tokenReview: validation tokenreview or both (create TokenReviews);
  apiJWKS:     keys read from the in-cluster API server with the pod's
               token (jwksUri, else the issuer's discovery, on
               kubernetes.default.svc[.cluster.local]: the hosts the
               gateway sends its token to, internal/policy/jwt);
  saFiles:     a policy names a file of the ServiceAccount mount.
The policies are read from `config` when given; otherwise security.jwt
describes them (the generated config, or an existingConfigMap's, which
the chart cannot read).
*/}}
{{- define "agentgateway.authn" -}}
{{- $pols := list -}}
{{- if .Values.config -}}
{{- range (get .Values.config "binds" | default list) -}}
{{- range (get . "listeners" | default list) -}}
{{- range (get . "routes" | default list) -}}
{{- range (get . "policies" | default list) -}}
{{- if and (eq (get . "type" | toString) "jwt-authn") (get . "jwt") }}{{ $pols = append $pols (get . "jwt") }}{{ end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- else if .Values.security.jwt.enabled -}}
{{- $pols = list .Values.security.jwt -}}
{{- end -}}
{{- $tr := false -}}
{{- $api := false -}}
{{- $files := false -}}
{{- range $pols -}}
{{- $mode := get . "validation" | default "jwks" -}}
{{- if or (eq $mode "tokenreview") (eq $mode "both") }}{{ $tr = true }}{{ end -}}
{{- if ne $mode "tokenreview" -}}
{{- $host := (urlParse (get . "jwksUri" | default (get . "issuer") | default "" | toString)).hostname | lower | trimSuffix "." -}}
{{- if has $host (list "kubernetes.default.svc" "kubernetes.default.svc.cluster.local") }}{{ $api = true }}{{ end -}}
{{- end -}}
{{- $j := get . "jwks" | default dict -}}
{{- $r := get . "tokenReview" | default dict -}}
{{- range (list (get $j "caFile") (get $j "bearerTokenFile") (get $r "caFile") (get $r "tokenFile")) -}}
{{- if hasPrefix "/var/run/secrets/kubernetes.io/serviceaccount/" (toString .) }}{{ $files = true }}{{ end -}}
{{- end -}}
{{- end -}}
{{- dict "tokenReview" $tr "apiJWKS" $api "saFiles" $files | toJson -}}
{{- end -}}

{{/* automountServiceAccountToken of the pods: serviceAccount.automountToken, else only when used. */}}
{{- define "agentgateway.automountToken" -}}
{{- $f := get .Values.serviceAccount "automountToken" -}}
{{- if kindIs "bool" $f -}}
{{- $f -}}
{{- else -}}
{{- $a := include "agentgateway.authn" . | fromJson -}}
{{- or $a.tokenReview $a.apiJWKS $a.saFiles -}}
{{- end -}}
{{- end -}}

{{/* Egress to the API server: networkPolicy.apiServer.enabled, else only when the gateway calls it. */}}
{{- define "agentgateway.apiServerEgress" -}}
{{- $e := get .Values.networkPolicy.apiServer "enabled" -}}
{{- if kindIs "bool" $e -}}
{{- if $e }}true{{ end -}}
{{- else -}}
{{- $a := include "agentgateway.authn" . | fromJson -}}
{{- if or $a.tokenReview $a.apiJWKS }}true{{ end -}}
{{- end -}}
{{- end -}}

{{/*
The Redis egress peer as JSON {namespace, podLabels, cidrs, ports}, from
networkPolicy.redis or derived from redis.address.
*/}}
{{- define "agentgateway.redisPeer" -}}
{{- $r := .Values.networkPolicy.redis -}}
{{- $addr := .Values.redis.address | toString -}}
{{- $port := regexFind "[0-9]+$" (regexFind ":[0-9]+$" $addr) | default "6379" -}}
{{- $host := trimSuffix (regexFind ":[0-9]+$" $addr) $addr | trimPrefix "[" | trimSuffix "]" | lower | trimSuffix "." -}}
{{- $peer := dict "ports" (get $r "ports" | default (list (int $port))) "podLabels" (get $r "podLabels" | default dict) -}}
{{- if or (get $r "cidrs") (get $r "namespace") -}}
{{- $_ := set $peer "cidrs" (get $r "cidrs" | default list) -}}
{{- $_ := set $peer "namespace" (get $r "namespace") -}}
{{- else if regexMatch "^[0-9]+\\.[0-9]+\\.[0-9]+\\.[0-9]+$" $host -}}
{{- $_ := set $peer "cidrs" (list (printf "%s/32" $host)) -}}
{{- else if contains ":" $host -}}
{{- $_ := set $peer "cidrs" (list (printf "%s/128" $host)) -}}
{{- else if regexMatch "^[a-z0-9-]+$" $host -}}
{{- $_ := set $peer "namespace" .Release.Namespace -}}
{{- else if regexMatch "^[a-z0-9-]+\\.[a-z0-9-]+\\.svc(\\..*)?$" $host -}}
{{- $_ := set $peer "namespace" (regexReplaceAll "^[a-z0-9-]+\\.([a-z0-9-]+)\\.svc(\\..*)?$" $host "${1}") -}}
{{- else -}}
{{- fail (printf "networkPolicy.redis: cannot tell where redis.address %q is; set networkPolicy.redis.cidrs (or networkPolicy.redis.namespace)" $addr) -}}
{{- end -}}
{{- $peer | toJson -}}
{{- end -}}

{{/* One egress rule: {np, peer: {namespace, podLabels, cidrs, ports}, what}. */}}
{{- define "agentgateway.egressRule" -}}
{{- $np := .np -}}
{{- $p := dict "namespace" (get .peer "namespace") "podLabels" (get .peer "podLabels" | default dict) "cidrs" (get .peer "cidrs" | default list) "ports" (get .peer "ports" | default list) -}}
{{- if not (or $p.namespace $p.cidrs) }}{{ fail (printf "networkPolicy.%s: each peer needs a namespace or cidrs" .what) }}{{ end -}}
{{- if not $p.ports }}{{ fail (printf "networkPolicy.%s: each peer needs ports" .what) }}{{ end -}}
- to:
    {{- if $p.namespace }}
    - namespaceSelector:
        matchLabels:
          {{ $np.namespaceLabel }}: {{ $p.namespace }}
      {{- with $p.podLabels }}
      podSelector:
        matchLabels:
          {{- toYaml . | nindent 10 }}
      {{- end }}
    {{- end }}
    {{- range $p.cidrs }}
    - ipBlock:
        cidr: {{ . }}
    {{- end }}
  ports:
    {{- range $p.ports }}
    - protocol: TCP
      port: {{ . }}
    {{- end }}
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

{{/* Where the federated session key file is mounted (federation.sessionKeys). */}}
{{- define "agentgateway.sessionKeysFile" -}}
/etc/agentgateway-session-keys/session-keys
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
{{- if $v.mcp.options }}{{ $_ := set $route "mcp" $v.mcp.options }}{{ end -}}
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
{{- $server := dict "shutdownGracePeriod" (printf "%ds" (int $v.gateway.shutdownGracePeriodSeconds)) -}}
{{- if $v.federation.sessionKeys.secretName }}{{ $_ := set $server "sessionKeys" (dict "file" (include "agentgateway.sessionKeysFile" .)) }}{{ end -}}
{{- $_ := set $cfg "server" $server -}}
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
