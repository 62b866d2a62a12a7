package main

// Reading the files given: each is told apart by its content (Traefik's dynamic or static
// configuration in YAML, TOML or JSON, a docker-compose file, Kubernetes manifests) and read
// into the model, with the line of what it defines.

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
	"gopkg.in/yaml.v3"
)

// read adds one file to the model.
func (m *model) read(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	switch strings.ToLower(filepath.Ext(path)) {
	case ".toml":
		return m.readTOML(path, string(data))
	case ".yml", ".yaml", ".json":
		return m.readYAML(path, data)
	}
	return fmt.Errorf("%s: not a .yml, .yaml, .json or .toml file", path)
}

// staticKeys are root keys of Traefik's static configuration, never of its dynamic one.
var staticKeys = map[string]bool{"entrypoints": true, "providers": true, "experimental": true, "api": true, "log": true, "accesslog": true, "ping": true, "certificatesresolvers": true}

func (m *model) readTOML(path, content string) error {
	var root map[string]interface{}
	if _, err := toml.Decode(content, &root); err != nil {
		return fmt.Errorf("%s: %v", path, err)
	}
	if isStatic(root) {
		m.addStatic(root, position{path, 0})
		return nil
	}
	config, err := decodeFile(path, content, m.env(path, content))
	if err != nil {
		m.findings = append(m.findings, finding{at: position{path, 0}, severity: errorSeverity, message: "Traefik's file provider cannot read it: " + err.Error()})
		return nil
	}
	m.addDynamic(config, "file", path, tomlLines(content))
	return nil
}

func (m *model) readYAML(path string, data []byte) error {
	decoder := yaml.NewDecoder(bytes.NewReader(data))
	var documents []*yaml.Node
	for {
		var doc yaml.Node
		err := decoder.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("%s: %v", path, err)
		}
		if len(doc.Content) > 0 {
			documents = append(documents, doc.Content[0])
		}
	}
	for _, doc := range documents {
		var root map[string]interface{}
		if err := doc.Decode(&root); err != nil || root == nil {
			continue
		}
		switch {
		case root["apiVersion"] != nil && root["kind"] != nil:
			m.addKubernetes(path, doc, root)
		case root["services"] != nil && root["http"] == nil:
			m.addCompose(path, doc)
		case isStatic(root):
			m.addStatic(root, position{path, doc.Line})
		default:
			if len(documents) > 1 {
				return fmt.Errorf("%s: a Traefik dynamic configuration file holds one document", path)
			}
			config, err := decodeFile(path, string(data), m.env(path, string(data)))
			if err != nil {
				m.findings = append(m.findings, finding{at: position{path, 0}, severity: errorSeverity, message: "Traefik's file provider cannot read it: " + err.Error()})
				return nil
			}
			m.addDynamic(config, "file", path, func(kind, name, key string) int {
				return lineOf(doc, append([]string{"http", kind, name}, settingPath(kind, key)...)...)
			})
			m.noteNulls(doc, "file")
		}
	}
	return nil
}

// noteNulls records the plugin settings a dynamic configuration file writes without a value:
// Traefik's file provider drops them, so the plugin never sees them.
func (m *model) noteNulls(doc *yaml.Node, provider string) {
	middlewares := child(child(doc, "http"), "middlewares")
	if middlewares == nil {
		return
	}
	for i := 0; i+1 < len(middlewares.Content); i += 2 {
		mw := m.middlewares[qualify(middlewares.Content[i].Value, provider)]
		plugins := child(middlewares.Content[i+1], "plugin")
		if mw == nil || plugins == nil {
			continue
		}
		for j := 0; j+1 < len(plugins.Content); j += 2 {
			settings := plugins.Content[j+1]
			for k := 0; settings.Kind == yaml.MappingNode && k+1 < len(settings.Content); k += 2 {
				if settings.Content[k+1].Tag == "!!null" {
					if mw.dropped == nil {
						mw.dropped = map[string]int{}
					}
					mw.dropped[settings.Content[k].Value] = settings.Content[k].Line
				}
			}
		}
	}
}

// settingPath is where a middleware's setting is written below the middleware.
func settingPath(kind, key string) []string {
	if kind != "middlewares" || key == "" {
		return nil
	}
	return []string{"plugin", "*", key}
}

func isStatic(root map[string]interface{}) bool {
	for key := range root {
		if staticKeys[strings.ToLower(key)] {
			return true
		}
	}
	return false
}

// env is the file provider's env function for the checker: a variable unset here is noted at
// the line that reads it, and read as "" as Traefik would.
func (m *model) env(path, content string) func(string) string {
	return func(name string) string {
		value, set := lookupEnv(name)
		if !set {
			line := 0
			for i, text := range strings.Split(content, "\n") {
				if strings.Contains(text, `"`+name+`"`) {
					line = i + 1
					break
				}
			}
			m.findings = append(m.findings, finding{at: position{path, line}, severity: noteSeverity, subject: "template",
				message: fmt.Sprintf("the variable %s is not set here; Traefik reads it from its own environment (a setting given by it is checked as empty)", name)})
		}
		return value
	}
}

// addStatic reads the plugins Traefik's static configuration declares.
func (m *model) addStatic(root map[string]interface{}, at position) {
	m.staticAt = &at
	experimental, _ := lowerKeys(root)["experimental"].(map[string]interface{})
	experimental = lowerKeysOf(experimental)
	for _, kind := range []string{"plugins", "localplugins"} {
		declared, _ := experimental[kind].(map[string]interface{})
		for name, value := range declared {
			settings, _ := value.(map[string]interface{})
			module, _ := lowerKeysOf(settings)["modulename"].(string)
			m.plugins[name] = module
		}
	}
	if abort, ok := experimental["abortonpluginfailure"].(bool); ok {
		m.abortOnPluginFailure = abort
	}
}

// addArgs reads the static configuration given as Traefik's command-line flags (a compose
// service's command, a Kubernetes container's args).
func (m *model) addArgs(args []string, at position) {
	for _, arg := range args {
		flag, value, _ := strings.Cut(strings.TrimLeft(arg, "-"), "=")
		parts := strings.Split(strings.ToLower(flag), ".")
		if parts[0] != "experimental" {
			continue
		}
		m.staticAt = &at
		switch {
		case len(parts) == 4 && (parts[1] == "plugins" || parts[1] == "localplugins") && parts[3] == "modulename":
			// Flags are case-insensitive, so the plugin's name is read from the flag as written.
			written := strings.Split(flag, ".")
			m.plugins[written[2]] = value
		case len(parts) == 2 && parts[1] == "abortonpluginfailure":
			m.abortOnPluginFailure = value == "" || strings.EqualFold(value, "true")
		}
	}
}

// addCompose reads a docker-compose file: each service's labels as the Docker provider decodes
// them, and Traefik's own service's command line.
func (m *model) addCompose(path string, doc *yaml.Node) {
	services := child(doc, "services")
	if services == nil {
		return
	}
	m.providers["docker"] = true
	for i := 0; i+1 < len(services.Content); i += 2 {
		service, spec := services.Content[i].Value, services.Content[i+1]
		if command := child(spec, "command"); command != nil {
			m.addArgs(stringsOf(command), position{path, command.Line})
		}
		labels, lines := composeLabels(child(spec, "labels"))
		if len(labels) == 0 {
			continue
		}
		config, err := decodeLabels(labels)
		if err != nil {
			m.findings = append(m.findings, finding{at: position{path, spec.Line}, severity: errorSeverity, message: "service " + service + ": Traefik's Docker provider cannot read its labels: " + err.Error()})
			continue
		}
		// A router without a service gets the container's (the Docker provider's default).
		for _, r := range config.HTTP.Routers {
			if r != nil && r.Service == "" {
				r.Service = service
			}
		}
		m.addDynamic(config, "docker", path, func(kind, name, key string) int {
			prefix := "traefik.http." + kind + "." + name + "."
			best := spec.Line
			for label, line := range lines {
				lower := strings.ToLower(label)
				if strings.HasPrefix(lower, strings.ToLower(prefix)) {
					if key == "" || strings.HasSuffix(lower, "."+strings.ToLower(key)) || strings.Contains(lower, "."+strings.ToLower(key)+".") {
						if key != "" || best == spec.Line || line < best {
							best = line
						}
					}
				}
			}
			return best
		})
	}
}

// composeLabels reads a service's labels, a map or a list of "key=value", with their lines.
func composeLabels(node *yaml.Node) (map[string]string, map[string]int) {
	labels, lines := map[string]string{}, map[string]int{}
	if node == nil {
		return labels, lines
	}
	switch node.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(node.Content); i += 2 {
			labels[node.Content[i].Value] = node.Content[i+1].Value
			lines[node.Content[i].Value] = node.Content[i].Line
		}
	case yaml.SequenceNode:
		for _, item := range node.Content {
			key, value, _ := strings.Cut(item.Value, "=")
			labels[key] = value
			lines[key] = item.Line
		}
	}
	return labels, lines
}

// addKubernetes reads one manifest: a Traefik Middleware or IngressRoute, an Ingress, a Secret,
// or Traefik's own Deployment or DaemonSet (its container's args).
func (m *model) addKubernetes(path string, doc *yaml.Node, root map[string]interface{}) {
	kind, _ := root["kind"].(string)
	metadata, _ := root["metadata"].(map[string]interface{})
	name, _ := metadata["name"].(string)
	namespace, _ := metadata["namespace"].(string)
	if namespace == "" {
		namespace = "default"
	}
	spec, _ := root["spec"].(map[string]interface{})
	switch kind {
	case "Middleware":
		m.providers["kubernetescrd"] = true
		entry := &middleware{name: namespace + "-" + name + "@kubernetescrd", at: position{path, doc.Line}, namespace: namespace}
		plugins, _ := spec["plugin"].(map[string]interface{})
		for plugin, settings := range plugins {
			entry.plugin = plugin
			entry.settings, _ = settings.(map[string]interface{})
			plugin := plugin
			entry.keyLine = func(key string) int { return lineOf(doc, "spec", "plugin", plugin, key) }
		}
		if entry.keyLine == nil {
			entry.keyLine = func(string) int { return doc.Line }
		}
		chain, _ := spec["chain"].(map[string]interface{})
		refs, _ := chain["middlewares"].([]interface{})
		for _, ref := range refs {
			entry.chain = append(entry.chain, crdReference(ref, namespace))
		}
		m.middlewares[entry.name] = entry
	case "IngressRoute":
		m.providers["kubernetescrd"] = true
		routes, _ := spec["routes"].([]interface{})
		for i, item := range routes {
			route, _ := item.(map[string]interface{})
			match, _ := route["match"].(string)
			r := &router{name: fmt.Sprintf("%s-%s route %d@kubernetescrd", namespace, name, i+1), at: position{path, lineOf(doc, "spec", "routes", strconv.Itoa(i))}, rule: match}
			services, _ := route["services"].([]interface{})
			if len(services) > 0 {
				service, _ := services[0].(map[string]interface{})
				serviceName, _ := service["name"].(string)
				r.service = namespace + "-" + serviceName + "@kubernetes"
			}
			refs, _ := route["middlewares"].([]interface{})
			for _, ref := range refs {
				r.middlewares = append(r.middlewares, crdReference(ref, namespace))
			}
			m.routers = append(m.routers, r)
		}
	case "Ingress":
		m.providers["kubernetes"] = true
		annotations, _ := metadata["annotations"].(map[string]interface{})
		refs, _ := annotations["traefik.ingress.kubernetes.io/router.middlewares"].(string)
		rules, _ := spec["rules"].([]interface{})
		for i, item := range rules {
			rule, _ := item.(map[string]interface{})
			host, _ := rule["host"].(string)
			http, _ := rule["http"].(map[string]interface{})
			paths, _ := http["paths"].([]interface{})
			for j, p := range paths {
				entry, _ := p.(map[string]interface{})
				pathValue, _ := entry["path"].(string)
				r := &router{name: fmt.Sprintf("%s-%s rule %d path %d@kubernetes", namespace, name, i+1, j+1), at: position{path, lineOf(doc, "spec", "rules", strconv.Itoa(i))},
					rule: ingressRule(host, pathValue), service: namespace + "-" + ingressService(entry) + "@kubernetes"}
				for _, ref := range strings.Split(refs, ",") {
					if ref = strings.TrimSpace(ref); ref != "" {
						r.middlewares = append(r.middlewares, qualify(ref, "kubernetes"))
					}
				}
				m.routers = append(m.routers, r)
			}
		}
	case "Secret":
		values := map[string]string{}
		data, _ := root["data"].(map[string]interface{})
		for key, value := range data {
			text, _ := value.(string)
			if decoded, err := base64.StdEncoding.DecodeString(text); err == nil {
				values[key] = string(decoded)
			}
		}
		stringData, _ := root["stringData"].(map[string]interface{})
		for key, value := range stringData {
			values[key] = fmt.Sprint(value)
		}
		m.secrets[namespace+"/"+name] = values
	case "Deployment", "DaemonSet", "StatefulSet":
		containers := child(child(child(child(doc, "spec"), "template"), "spec"), "containers")
		if containers == nil {
			return
		}
		for _, container := range containers.Content {
			if image := child(container, "image"); image == nil || !strings.Contains(image.Value, "traefik") {
				continue
			}
			if args := child(container, "args"); args != nil {
				m.addArgs(stringsOf(args), position{path, args.Line})
			}
		}
	}
}

// crdReference is an IngressRoute's or a chain's {name, namespace} as Traefik names the middleware.
func crdReference(ref interface{}, namespace string) string {
	entry, _ := ref.(map[string]interface{})
	name, _ := entry["name"].(string)
	if ns, _ := entry["namespace"].(string); ns != "" {
		namespace = ns
	}
	if strings.Contains(name, "@") {
		return name
	}
	return namespace + "-" + name + "@kubernetescrd"
}

func ingressRule(host, path string) string {
	var parts []string
	if host != "" {
		parts = append(parts, "Host(`"+host+"`)")
	}
	if path != "" {
		parts = append(parts, "PathPrefix(`"+path+"`)")
	}
	return strings.Join(parts, " && ")
}

func ingressService(path map[string]interface{}) string {
	backend, _ := path["backend"].(map[string]interface{})
	service, _ := backend["service"].(map[string]interface{})
	name, _ := service["name"].(string)
	return name
}

func lowerKeys(root map[string]interface{}) map[string]interface{} { return lowerKeysOf(root) }

func lowerKeysOf(object map[string]interface{}) map[string]interface{} {
	lower := make(map[string]interface{}, len(object))
	for key, value := range object {
		lower[strings.ToLower(key)] = value
	}
	return lower
}
