package display

import (
	"fmt"
	"path/filepath"
	"strings"
)

// prepareQt makes Qt pick a platform that can work. Debian's OpenCV uses Qt 5, which starts on X11 (xcb) unless
// QT_QPA_PLATFORM says otherwise, even in a Wayland session: with only WAYLAND_DISPLAY set, it sets
// QT_QPA_PLATFORM=wayland. When Wayland is to be used it checks that Qt's Wayland plugin is installed, because
// Qt aborts the whole process when a platform plugin is missing.
//
// It also gives Qt a UTF-8 character type when the environment names none (a container without LANG): Qt
// otherwise takes the title's UTF-8 bytes for Latin-1 and sets a garbled WM_NAME ("camstream â\u0080\u0094 …"),
// which window lists, taskbars and xdotool read.
func prepareQt(getenv func(string) string, setenv func(string, string) error) error {
	if !utf8Locale(getenv) && getenv("LC_ALL") == "" {
		if err := setenv("LC_CTYPE", "C.UTF-8"); err != nil {
			return fmt.Errorf("display: set LC_CTYPE: %w", err)
		}
	}
	platform := getenv("QT_QPA_PLATFORM")
	if platform == "" && waylandOnly(getenv) {
		platform = "wayland"
		if err := setenv("QT_QPA_PLATFORM", platform); err != nil {
			return fmt.Errorf("display: set QT_QPA_PLATFORM: %w", err)
		}
	}
	if !strings.HasPrefix(platform, "wayland") {
		return nil
	}
	dirs := qtPlatformDirs(getenv)
	for _, d := range dirs {
		if m, _ := filepath.Glob(filepath.Join(d, "libqwayland-*.so")); len(m) > 0 {
			return nil
		}
	}
	return fmt.Errorf("display: QT_QPA_PLATFORM=%s but Qt's Wayland platform plugin is not installed (looked in %s): "+
		"install qtwayland5, or use X11 (XWayland) through DISPLAY", platform, strings.Join(dirs, ", "))
}

// qtPlatformDirs lists where Qt 5 looks for platform plugins.
func qtPlatformDirs(getenv func(string) string) []string {
	var dirs []string
	if p := getenv("QT_QPA_PLATFORM_PLUGIN_PATH"); p != "" {
		dirs = append(dirs, filepath.SplitList(p)...)
	}
	for _, p := range filepath.SplitList(getenv("QT_PLUGIN_PATH")) {
		if p != "" {
			dirs = append(dirs, filepath.Join(p, "platforms"))
		}
	}
	sys, _ := filepath.Glob("/usr/lib/*/qt5/plugins/platforms")
	dirs = append(dirs, sys...)
	return append(dirs, "/usr/lib/qt5/plugins/platforms")
}

// utf8Locale reports whether the locale the environment selects for the character type is a UTF-8 one.
func utf8Locale(getenv func(string) string) bool {
	for _, k := range []string{"LC_ALL", "LC_CTYPE", "LANG"} {
		if v := getenv(k); v != "" {
			v = strings.ToLower(v)
			return strings.Contains(v, "utf-8") || strings.Contains(v, "utf8")
		}
	}
	return false
}
