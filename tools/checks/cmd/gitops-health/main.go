// Command gitops-health reads Kubernetes objects and says how GitOps tools judge them,
// with the libraries those tools use: kstatus from sigs.k8s.io/cli-utils (what Flux's
// health checks and `kubectl`'s cli-utils use) and the Argo CD health checks shipped in
// config/argocd/argocd-cm.yaml, run by gopher-lua in the environment Argo CD gives them
// (package, base and table libraries; the object decoded as Argo CD decodes it).
//
//	gitops-health ARGOCD_CM_YAML HEALTH_LUA < objects.json > verdicts.json
//
// objects.json is a JSON array of objects; verdicts.json a JSON array of
// {"kstatus", "kstatusMessage", "argo", "argoMessage"}, one per object. It fails when a
// kind has no health check in the ConfigMap or the check differs from HEALTH_LUA.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	lua "github.com/yuin/gopher-lua"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/yaml"
)

type verdict struct {
	KStatus        string `json:"kstatus"`
	KStatusMessage string `json:"kstatusMessage"`
	Argo           string `json:"argo"`
	ArgoMessage    string `json:"argoMessage"`
}

type configMap struct {
	Data map[string]string `json:"data"`
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "gitops-health:", err)
		os.Exit(1)
	}
}

func run() error {
	if len(os.Args) != 3 {
		return fmt.Errorf("usage: gitops-health ARGOCD_CM_YAML HEALTH_LUA < objects.json")
	}
	raw, err := os.ReadFile(os.Args[1])
	if err != nil {
		return err
	}
	var cm configMap
	if err := yaml.Unmarshal(raw, &cm); err != nil {
		return fmt.Errorf("%s: %w", os.Args[1], err)
	}
	script, err := os.ReadFile(os.Args[2])
	if err != nil {
		return err
	}
	input, err := io.ReadAll(os.Stdin)
	if err != nil {
		return err
	}
	var objects []json.RawMessage
	if err := json.Unmarshal(input, &objects); err != nil {
		return fmt.Errorf("stdin: %w", err)
	}
	verdicts := make([]verdict, 0, len(objects))
	for _, object := range objects {
		// Decoded as clients and Argo CD decode objects: integers as int64.
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(object); err != nil {
			return fmt.Errorf("stdin: %w", err)
		}
		result, err := status.Compute(u)
		if err != nil {
			return fmt.Errorf("kstatus of %s %s: %w", u.GetKind(), u.GetName(), err)
		}
		group := strings.SplitN(u.GetAPIVersion(), "/", 2)[0]
		key := fmt.Sprintf("resource.customizations.health.%s_%s", group, u.GetKind())
		check, ok := cm.Data[key]
		if !ok {
			return fmt.Errorf("argocd-cm has no %s", key)
		}
		if strings.TrimSpace(check) != strings.TrimSpace(string(script)) {
			return fmt.Errorf("argocd-cm's %s differs from %s", key, os.Args[2])
		}
		health, message, err := argoHealth(u.Object, check)
		if err != nil {
			return fmt.Errorf("argo health of %s %s: %w", u.GetKind(), u.GetName(), err)
		}
		verdicts = append(verdicts, verdict{
			KStatus: result.Status.String(), KStatusMessage: result.Message,
			Argo: health, ArgoMessage: message,
		})
	}
	return json.NewEncoder(os.Stdout).Encode(verdicts)
}

// argoHealth runs a health script as Argo CD's util/lua does.
func argoHealth(object map[string]any, script string) (string, string, error) {
	l := lua.NewState(lua.Options{SkipOpenLibs: true})
	defer l.Close()
	for _, lib := range []struct {
		name string
		open lua.LGFunction
	}{{lua.LoadLibName, lua.OpenPackage}, {lua.BaseLibName, lua.OpenBase}, {lua.TabLibName, lua.OpenTable}} {
		l.Push(l.NewFunction(lib.open))
		l.Push(lua.LString(lib.name))
		l.Call(1, 0)
	}
	l.SetGlobal("obj", decode(l, object))
	if err := l.DoString(script); err != nil {
		return "", "", err
	}
	table, ok := l.Get(-1).(*lua.LTable)
	if !ok {
		return "", "", fmt.Errorf("the script returned %s, not a table", l.Get(-1).Type())
	}
	health := table.RawGetString("status").String()
	switch health {
	case "Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown":
	default:
		return "", "", fmt.Errorf("invalid health status %q", health)
	}
	message := ""
	if m, ok := table.RawGetString("message").(lua.LString); ok {
		message = string(m)
	}
	return health, message, nil
}

// decode converts a JSON value to Lua as Argo CD's decodeValue does.
func decode(l *lua.LState, value any) lua.LValue {
	switch v := value.(type) {
	case float64:
		return lua.LNumber(v)
	case int64:
		return lua.LNumber(v)
	case string:
		return lua.LString(v)
	case bool:
		return lua.LBool(v)
	case []any:
		t := l.CreateTable(len(v), 0)
		for _, item := range v {
			t.Append(decode(l, item))
		}
		return t
	case map[string]any:
		t := l.CreateTable(0, len(v))
		for key, item := range v {
			t.RawSetH(lua.LString(key), decode(l, item))
		}
		return t
	}
	return lua.LNil
}
