/** The frame of the pages before login (first-run setup, login): no nav, the product and the form. */
import type { ComponentChildren } from 'preact';
import { ThemeToggle } from './ThemeToggle.js';

export function AuthLayout({ title, children }: { title: string; children: ComponentChildren }) {
  return (
    <div class="auth">
      <header class="auth-header">
        <span class="brand">LayerGate</span>
        <ThemeToggle />
      </header>
      <main id="main" class="auth-main" tabIndex={-1}>
        <h1>{title}</h1>
        {children}
      </main>
    </div>
  );
}
