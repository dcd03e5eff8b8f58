{{/* Names, labels and images: every template takes them from here. */}}

{{/* The chart name, unless overridden. */}}
{{- define "cxjourney.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The prefix of every resource name: the release name, plus the chart name unless the
release name already holds it. Kept to 45 characters so suffixes such as
"-processor-status" still fit in 63. */}}
{{- define "cxjourney.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 45 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 45 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 45 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* chart-version, as the helm.sh/chart label wants it. */}}
{{- define "cxjourney.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels of one component's Pods that its Deployment selects on (immutable). */}}
{{- define "cxjourney.selectorLabels" -}}
app.kubernetes.io/name: {{ include "cxjourney.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* Labels of every object of one component. */}}
{{- define "cxjourney.labels" -}}
{{ include "cxjourney.selectorLabels" . }}
app.kubernetes.io/part-of: cxjourney
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ include "cxjourney.chart" .root }}
{{- end }}

{{/* One component's name: <fullname>-<component>. */}}
{{- define "cxjourney.componentName" -}}
{{- printf "%s-%s" (include "cxjourney.fullname" .root) .component }}
{{- end }}

{{/* An image reference: [registry/]repository:tag, the tag defaulting to appVersion. */}}
{{- define "cxjourney.image" -}}
{{- $registry := .root.Values.image.registry | trimSuffix "/" }}
{{- $tag := default .root.Chart.AppVersion .root.Values.image.tag }}
{{- if $registry }}
{{- printf "%s/%s:%s" $registry .repository $tag }}
{{- else }}
{{- printf "%s:%s" .repository $tag }}
{{- end }}
{{- end }}

{{/* The processor Service's in-cluster DNS name. */}}
{{- define "cxjourney.processorHost" -}}
{{- printf "%s.%s.svc" (include "cxjourney.componentName" (dict "root" . "component" "processor")) .Release.Namespace }}
{{- end }}

{{/* Where probes send OTLP: the configured endpoint, else this release's processor. */}}
{{- define "cxjourney.probeOtlpEndpoint" -}}
{{- if .Values.operator.probe.otlp.endpoint }}
{{- .Values.operator.probe.otlp.endpoint }}
{{- else if .Values.processor.enabled }}
{{- $port := .Values.processor.ports.otlpGrpc }}
{{- if eq .Values.operator.probe.otlp.protocol "http/protobuf" }}
{{- $port = .Values.processor.ports.otlpHttp }}
{{- end }}
{{- printf "http://%s:%v" (include "cxjourney.processorHost" .) $port }}
{{- end }}
{{- end }}

{{/* Environment every cxj container gets: numba compiles into the writable /tmp. */}}
{{- define "cxjourney.runtimeEnv" -}}
- name: NUMBA_CACHE_DIR
  value: /tmp/numba-cache
- name: HOME
  value: /tmp
{{- end }}

{{/* The rules of one kind (ClusterRole or Role) in files/operator-rbac.yaml, the copy of
deploy/rbac/operator.yaml; the leader-election Lease name is this release's. */}}
{{- define "cxjourney.operatorRules" -}}
{{- $rules := list }}
{{- range $document := splitList "\n---" (.root.Files.Get "files/operator-rbac.yaml") }}
{{- $object := fromYaml $document }}
{{- if eq (get $object "kind") $.kind }}
{{- $rules = $object.rules }}
{{- end }}
{{- end }}
{{- if not $rules }}
{{- fail (printf "files/operator-rbac.yaml holds no %s: copy deploy/rbac/operator.yaml there" .kind) }}
{{- end }}
{{- $leaseName := .root.Values.operator.leaderElection.leaseName }}
{{- range $rule := $rules }}
{{- if and (eq $.kind "Role") (hasKey $rule "resourceNames") }}
{{- $_ := set $rule "resourceNames" (list $leaseName) }}
{{- end }}
{{- end }}
{{- toYaml $rules }}
{{- end }}
