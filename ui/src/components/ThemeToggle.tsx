/** The light/dark switch: a real toggle button that says which theme it turns on. */
import { useTheme } from '../app/theme.js';

export function ThemeToggle() {
  const { theme, toggle } = useTheme();
  return (
    <button type="button" class="button button-quiet" aria-pressed={theme === 'dark'} onClick={toggle}>
      <span aria-hidden="true">{theme === 'dark' ? '☾' : '☀'}</span> Dark theme
    </button>
  );
}
