package withauth

import (
	"os"
	"reflect"
	"strings"
	"testing"
)

// TestSettingsNameEveryField keeps the settings table in step with Config: one key a field.
func TestSettingsNameEveryField(t *testing.T) {
	t.Parallel()
	fields := map[string]bool{}
	configType := reflect.TypeOf(Config{})
	for i := 0; i < configType.NumField(); i++ {
		if name := configType.Field(i).Name; name != "Given" && name != "Now" && configType.Field(i).IsExported() { // not configuration keys
			fields[strings.ToLower(name)] = true
		}
	}
	for _, key := range settingKeys() {
		if !fields[strings.ToLower(key)] {
			t.Errorf("settings has %q, which matches no Config field", key)
		}
		delete(fields, strings.ToLower(key))
	}
	for field := range fields {
		t.Errorf("Config field %q has no row in settings", field)
	}
}

// Between these markers, the README's configuration table is the settings table's.
const (
	settingsBegin = "<!-- settings: the table below is settings.go's; WITHAUTH_WRITE_README=1 go test -run TestConfigurationReference . rewrites it -->"
	settingsEnd   = "<!-- settings end -->"
)

// configurationTable renders the settings table as the README shows it.
func configurationTable() string {
	var b strings.Builder
	b.WriteString("| key | kind | default | meaning |\n|---|---|---|---|\n")
	for _, s := range settings {
		b.WriteString("| `" + s.key + "` | " + s.kind + " | " + s.def + " | " + s.doc + " |\n")
	}
	return b.String()
}

// TestConfigurationReference: the README's configuration table is the settings table, key by
// key; WITHAUTH_WRITE_README=1 rewrites it from the table.
func TestConfigurationReference(t *testing.T) {
	readme := string(readFixture(t, "../README.md"))
	begin, end := strings.Index(readme, settingsBegin), strings.Index(readme, settingsEnd)
	if begin < 0 || end < begin {
		t.Fatalf("README.md lacks the markers of its configuration table (%q … %q)", settingsBegin, settingsEnd)
	}
	want := readme[:begin] + settingsBegin + "\n\n" + configurationTable() + "\n" + readme[end:]
	if want == readme {
		return
	}
	if os.Getenv("WITHAUTH_WRITE_README") == "1" {
		if err := os.WriteFile("README.md", []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Error("README.md's configuration table is not settings.go's; WITHAUTH_WRITE_README=1 go test -run TestConfigurationReference . rewrites it")
}
