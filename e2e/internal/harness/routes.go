package harness

import (
	"encoding/json"
	"fmt"
)

// Route is one router: a path prefix guarded by a withauth middleware ("<Name>-auth"), or by
// a middleware of another local plugin, or by none.
type Route struct {
	Name   string         // router name
	Path   string         // PathPrefix
	Auth   map[string]any // this route's middleware settings, on top of the common ones (withauth's)
	Access string         // who gets in, for people
	// Plugin is the local plugin of the route's middleware: "" is withauth. Bare routes have
	// no middleware. OwnSettings routes take none of the common settings.
	Plugin      string
	Bare        bool
	OwnSettings bool
	// BackendURL, if set, is this route's own backend instead of FileConfig's.
	BackendURL string
}

// ShiftForwardHeaders is /shift's forwardHeaders: the defaults spelled out, plus the name claim.
// Setting forwardHeaders replaces the defaults, so the examples list them all.
var ShiftForwardHeaders = map[string]any{
	"X-User-Id":          "sub",
	"X-Tenant-Id":        "tenantId",
	"X-User-Email":       "email",
	"X-User-Roles":       "roles",
	"X-User-Permissions": "permissions",
	"X-User-Name":        "name",
}

// GuideRoutes are the routes of Frontegg's guide, as every example in examples/ configures them.
// /home's roles are one comma-separated string, the way a Docker label gives a list.
func GuideRoutes() []Route {
	return []Route{
		{Name: "shift", Path: "/shift", Access: "any signed-in user",
			Auth: map[string]any{"forwardHeaders": ShiftForwardHeaders}},
		{Name: "admin", Path: "/admin", Access: "roles: admin",
			Auth: map[string]any{"roles": []string{"admin"}}},
		{Name: "home", Path: "/home", Access: `roles: "admin, read-only" (any of)`,
			Auth: map[string]any{"roles": "admin, read-only"}},
		{Name: "uploads", Path: "/uploads", Access: "permissions: uploadFile",
			Auth: map[string]any{"permissions": []string{"uploadFile"}}},
	}
}

// RouterNames are the file-provider router names of routes ("shift@file", ...).
func RouterNames(routes []Route) []string {
	var names []string
	for _, r := range routes {
		names = append(names, r.Name+"@file")
	}
	return names
}

// FileConfig renders routes as file-provider dynamic configuration (JSON, which is YAML too):
// one router, one withauth middleware ("<name>-auth") each, all to one backend service.
// common holds the settings every middleware gets, such as jwksUrl and issuer.
func FileConfig(routes []Route, common map[string]any, backendURL string) string {
	routers := map[string]any{}
	middlewares := map[string]any{}
	server := func(url string) map[string]any {
		return map[string]any{"loadBalancer": map[string]any{"servers": []map[string]string{{"url": url}}}}
	}
	services := map[string]any{"backend": server(backendURL)}
	for _, r := range routes {
		service := "backend"
		if r.BackendURL != "" {
			service = r.Name + "-backend"
			services[service] = server(r.BackendURL)
		}
		router := map[string]any{
			"rule":        fmt.Sprintf("PathPrefix(`%s`)", r.Path),
			"entryPoints": []string{"web"},
			"service":     service,
		}
		routers[r.Name] = router
		if r.Bare {
			continue
		}
		plugin, settings := r.Plugin, map[string]any{}
		if plugin == "" {
			plugin = PluginName
			if !r.OwnSettings {
				for k, v := range common {
					settings[k] = v
				}
			}
		}
		for k, v := range r.Auth {
			settings[k] = v
		}
		router["middlewares"] = []string{r.Name + "-auth"}
		middlewares[r.Name+"-auth"] = map[string]any{"plugin": map[string]any{plugin: settings}}
	}
	config := map[string]any{"http": map[string]any{
		"routers":     routers,
		"middlewares": middlewares,
		"services":    services,
	}}
	out, err := json.MarshalIndent(config, "", "  ")
	if err != nil {
		panic(err) // only plain values above
	}
	return string(out) + "\n"
}
