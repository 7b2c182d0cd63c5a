{{/* The RBAC scope: Cluster, or Namespaced (the default when watchNamespaces is set). */}}
{{- define "iotop.rbacScope" -}}
{{- if .Values.rbac.scope -}}
{{- if not (has .Values.rbac.scope (list "Cluster" "Namespaced")) -}}
{{- fail "rbac.scope must be Cluster or Namespaced" -}}
{{- end -}}
{{- if and (eq .Values.rbac.scope "Namespaced") (not .Values.watchNamespaces) -}}
{{- fail "rbac.scope Namespaced needs watchNamespaces: the operator then watches only those namespaces" -}}
{{- end -}}
{{- .Values.rbac.scope -}}
{{- else if .Values.watchNamespaces -}}
Namespaced
{{- else -}}
Cluster
{{- end -}}
{{- end -}}

{{/* The namespace credentials are read from. */}}
{{- define "iotop.credentialsNamespace" -}}
{{- default .Release.Namespace .Values.credentialsNamespace -}}
{{- end -}}
