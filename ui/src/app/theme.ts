/**
 * Light or dark: the system's preference (prefers-color-scheme) until the user picks one with the
 * toggle, which is remembered in localStorage. The choice is applied as `data-theme` on <html>;
 * the stylesheet (styles/theme.css) follows the system when the attribute is absent.
 */
import { useEffect, useState } from 'preact/hooks';

export type Theme = 'light' | 'dark';

const KEY = 'layergate.theme';
const darkQuery = (): MediaQueryList => window.matchMedia('(prefers-color-scheme: dark)');

export function storedTheme(): Theme | null {
  try {
    const v = localStorage.getItem(KEY);
    return v === 'light' || v === 'dark' ? v : null;
  } catch {
    // storage can be off (private mode, policy): follow the system then
    return null;
  }
}

export function applyStoredTheme(): void {
  const t = storedTheme();
  if (t) document.documentElement.dataset.theme = t;
  else delete document.documentElement.dataset.theme;
}

/** the theme in effect and a toggle to the other one (remembered) */
export function useTheme(): { theme: Theme; toggle(): void } {
  const [stored, setStored] = useState<Theme | null>(storedTheme);
  const [systemDark, setSystemDark] = useState<boolean>(() => darkQuery().matches);
  useEffect(() => {
    const q = darkQuery();
    const follow = (e: MediaQueryListEvent): void => setSystemDark(e.matches);
    q.addEventListener('change', follow);
    return () => q.removeEventListener('change', follow);
  }, []);
  const theme: Theme = stored ?? (systemDark ? 'dark' : 'light');
  return {
    theme,
    toggle() {
      const next: Theme = theme === 'dark' ? 'light' : 'dark';
      try {
        localStorage.setItem(KEY, next);
      } catch {
        // not remembered, still applied for this page
      }
      document.documentElement.dataset.theme = next;
      setStored(next);
    },
  };
}
