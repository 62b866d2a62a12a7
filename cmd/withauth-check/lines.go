package main

// Where things are written: lines in YAML through its node tree, in TOML by its tables.

import (
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// child is the value of key in a mapping node (matched case-insensitively, as Traefik's
// decoders match), or the item at an index in a sequence; nil when absent.
func child(node *yaml.Node, key string) *yaml.Node {
	if node == nil {
		return nil
	}
	switch node.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(node.Content); i += 2 {
			if key == "*" || strings.EqualFold(node.Content[i].Value, key) {
				return node.Content[i+1]
			}
		}
	case yaml.SequenceNode:
		if i, err := strconv.Atoi(key); err == nil && i >= 0 && i < len(node.Content) {
			return node.Content[i]
		}
	}
	return nil
}

// lineOf is the line of the deepest key of path that is written ("*": any one key).
func lineOf(node *yaml.Node, path ...string) int {
	line := node.Line
	for _, key := range path {
		if key == "" {
			break
		}
		if node.Kind == yaml.MappingNode {
			for i := 0; i+1 < len(node.Content); i += 2 {
				if key == "*" || strings.EqualFold(node.Content[i].Value, key) {
					line = node.Content[i].Line
					break
				}
			}
		}
		next := child(node, key)
		if next == nil {
			break
		}
		if node.Kind == yaml.SequenceNode {
			line = next.Line
		}
		node = next
	}
	return line
}

// stringsOf is a sequence's scalars, or a scalar's words (a command written as one string).
func stringsOf(node *yaml.Node) []string {
	if node.Kind == yaml.ScalarNode {
		return strings.Fields(node.Value)
	}
	var values []string
	for _, item := range node.Content {
		values = append(values, item.Value)
	}
	return values
}

// tomlLines finds lines in a TOML file of Traefik's dynamic configuration: a middleware's or a
// router's table, [http.middlewares.<name>…], and a key within it.
func tomlLines(content string) func(kind, name, key string) int {
	lines := strings.Split(content, "\n")
	return func(kind, name, key string) int {
		table := 0
		for i, line := range lines {
			trimmed := strings.TrimSpace(line)
			if !strings.HasPrefix(trimmed, "[") {
				if table > 0 && key != "" {
					if k, _, found := strings.Cut(trimmed, "="); found && strings.EqualFold(strings.Trim(strings.TrimSpace(k), `"`), key) {
						return i + 1
					}
				}
				continue
			}
			header := strings.ToLower(strings.Trim(trimmed, "[] "))
			prefix := strings.ToLower("http." + kind + "." + name)
			if header == prefix || strings.HasPrefix(header, prefix+".") || strings.HasPrefix(header, strings.ToLower(`http.`+kind+`."`+name+`"`)) {
				if table == 0 {
					table = i + 1
				}
				continue
			}
			if table > 0 && key != "" && !strings.HasPrefix(header, prefix) {
				break
			}
		}
		return table
	}
}
