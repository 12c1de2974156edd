{{/* The release's name prefix, cut to fit a DNS label with a suffix. */}}
{{- define "auditstream.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "auditstream.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
app.kubernetes.io/name: auditstream
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* Selector labels of every pod of the release. */}}
{{- define "auditstream.selectorLabels" -}}
app.kubernetes.io/name: auditstream
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "auditstream.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{- define "auditstream.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- .Values.serviceAccount.name | default (include "auditstream.fullname" .) -}}
{{- else -}}
{{- .Values.serviceAccount.name | default "default" -}}
{{- end -}}
{{- end -}}

{{- define "auditstream.kafkaTLSSecret" -}}
{{- required "kafka.tls.existingSecret: name the Secret with ca.crt (and tls.crt, tls.key for mTLS)" .Values.kafka.tls.existingSecret -}}
{{- end -}}

{{- define "auditstream.kafkaSASLSecret" -}}
{{- .Values.kafka.sasl.existingSecret | default (printf "%s-kafka-sasl" (include "auditstream.fullname" .)) -}}
{{- end -}}

{{/* The Secret of a connector: (list $ $connector). */}}
{{- define "auditstream.connectorSecret" -}}
{{- $ := index . 0 -}}{{- $c := index . 1 -}}
{{- $c.existingSecret | default (printf "%s-conn-%s" (include "auditstream.fullname" $) $c.id) -}}
{{- end -}}

{{/* Whether a connector has a Secret: (list $ $connector). */}}
{{- define "auditstream.connectorHasSecret" -}}
{{- $c := index . 1 -}}
{{- if or $c.existingSecret $c.secrets }}true{{ end -}}
{{- end -}}

{{/* The pipeline file. Chart-only keys are dropped from each connector:
     the loader rejects unknown keys. */}}
{{- define "auditstream.pipeline" -}}
{{- if not .Values.kafka.brokers }}{{ fail "kafka.brokers: at least one host:port" }}{{ end -}}
kafka:
  brokers:
    {{- toYaml .Values.kafka.brokers | nindent 4 }}
  client_id: {{ .Values.kafka.clientID | quote }}
  {{- with .Values.kafka.tls }}
  {{- if .enabled }}
  tls:
    ca_file: /etc/auditstream/kafka-tls/ca.crt
    {{- if .clientCertificate }}
    cert_file: /etc/auditstream/kafka-tls/tls.crt
    key_file: /etc/auditstream/kafka-tls/tls.key
    {{- end }}
    {{- with .serverName }}
    server_name: {{ . | quote }}
    {{- end }}
  {{- end }}
  {{- end }}
  {{- if .Values.kafka.sasl.enabled }}
  sasl:
    mechanism: {{ .Values.kafka.sasl.mechanism | quote }}
    username: {{ required "kafka.sasl.username" .Values.kafka.sasl.username | quote }}
    password: {file: /etc/auditstream/kafka-sasl/password}
  {{- end }}
topics:
  {{- toYaml .Values.topics | nindent 2 }}
router:
  {{- toYaml (merge (dict "listen" (printf "0.0.0.0:%d" (int .Values.adminPort))) .Values.router.config) | nindent 2 }}
connectors:
{{- range .Values.connectors }}
  - {{- toYaml (merge (dict "listen" (printf "0.0.0.0:%d" (int $.Values.adminPort))) (omit . "secrets" "existingSecret" "replicas" "resources" "autoscaling" "podDisruptionBudget")) | nindent 4 }}
{{- end }}
{{- end -}}

{{/* The pod security context of every pod: distroless's nonroot user. */}}
{{- define "auditstream.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
fsGroup: 65532
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "auditstream.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop: [ALL]
{{- end -}}

{{/* Volumes of a pod: (list $ connectors-to-mount). */}}
{{- define "auditstream.volumes" -}}
{{- $ := index . 0 -}}
- name: pipeline
  configMap:
    name: {{ include "auditstream.fullname" $ }}-pipeline
{{- if $.Values.kafka.tls.enabled }}
- name: kafka-tls
  secret:
    secretName: {{ include "auditstream.kafkaTLSSecret" $ }}
{{- end }}
{{- if $.Values.kafka.sasl.enabled }}
- name: kafka-sasl
  secret:
    secretName: {{ include "auditstream.kafkaSASLSecret" $ }}
    items:
      - {key: password, path: password}
{{- end }}
{{- range index . 1 }}
{{- if include "auditstream.connectorHasSecret" (list $ .) }}
- name: conn-{{ .id }}
  secret:
    secretName: {{ include "auditstream.connectorSecret" (list $ .) }}
{{- end }}
{{- end }}
{{- end -}}

{{- define "auditstream.volumeMounts" -}}
{{- $ := index . 0 -}}
- name: pipeline
  mountPath: /etc/auditstream/pipeline.yaml
  subPath: pipeline.yaml
  readOnly: true
{{- if $.Values.kafka.tls.enabled }}
- name: kafka-tls
  mountPath: /etc/auditstream/kafka-tls
  readOnly: true
{{- end }}
{{- if $.Values.kafka.sasl.enabled }}
- name: kafka-sasl
  mountPath: /etc/auditstream/kafka-sasl
  readOnly: true
{{- end }}
{{- range index . 1 }}
{{- if include "auditstream.connectorHasSecret" (list $ .) }}
- name: conn-{{ .id }}
  mountPath: /etc/auditstream/connectors/{{ .id }}
  readOnly: true
{{- end }}
{{- end }}
{{- end -}}

{{/* The admin port, probes and security of a container. */}}
{{- define "auditstream.containerCommon" -}}
ports:
  - name: admin
    containerPort: {{ .Values.adminPort }}
    protocol: TCP
livenessProbe:
  httpGet: {path: /healthz, port: admin}
  periodSeconds: 10
  timeoutSeconds: 3
  failureThreshold: 3
readinessProbe:
  httpGet: {path: /readyz, port: admin}
  periodSeconds: 10
  timeoutSeconds: 3
  failureThreshold: 3
securityContext:
  {{- include "auditstream.containerSecurityContext" . | nindent 2 }}
{{- end -}}

{{/* KEDA's name of the SASL mechanism. */}}
{{- define "auditstream.kedaSASL" -}}
{{- $m := .Values.kafka.sasl.mechanism -}}
{{- $keda := get (dict "PLAIN" "plaintext" "SCRAM-SHA-256" "scram_sha256" "SCRAM-SHA-512" "scram_sha512") $m -}}
{{- if not $keda }}{{ fail (printf "kafka.sasl.mechanism %q: want PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512" $m) }}{{ end -}}
{{- $keda -}}
{{- end -}}

{{- define "auditstream.metricsFrom" -}}
{{- if .Values.networkPolicy.metricsFrom -}}
{{- toYaml .Values.networkPolicy.metricsFrom -}}
{{- else -}}
- podSelector:
    matchLabels:
      app.kubernetes.io/name: prometheus
{{- end -}}
{{- end -}}

{{/* Egress to DNS and the brokers: (dict "peers" peers "ports" ports). */}}
{{- define "auditstream.egressKafkaDNS" }}
- to:
    - namespaceSelector: {}
      podSelector:
        matchLabels:
          k8s-app: kube-dns
  ports:
    - {port: 53, protocol: UDP}
    - {port: 53, protocol: TCP}
- {{- with .peers }}
  to:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  ports:
    {{- range .ports | uniq }}
    - {port: {{ . }}, protocol: TCP}
    {{- end }}
{{- end }}
