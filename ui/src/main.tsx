/** The browser entry: the theme first (no flash of the wrong one), then the app into #app. */
import { render } from 'preact';
import 'uplot/dist/uPlot.min.css';
import './styles/app.css';
import { App } from './app/App.js';
import { applyStoredTheme } from './app/theme.js';

applyStoredTheme();
const root = document.getElementById('app');
if (root) render(<App />, root);
