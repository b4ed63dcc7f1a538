import { mount } from 'svelte';
import App from './App.svelte';
import './style.css';

// A kiosk: no context menu, no browser shortcuts that leave the page.
document.addEventListener('contextmenu', (e) => e.preventDefault());
document.addEventListener('keydown', (e) => {
  if ((e.ctrlKey || e.metaKey) && ['r', 'p', 's', 'o', 'u', 'f'].includes(e.key.toLowerCase())) e.preventDefault();
  if (e.key === 'F5' || e.key === 'F12' || e.key === 'F11') e.preventDefault();
});

const target = document.getElementById('app');
if (!target) throw new Error('no #app');
export default mount(App, { target });
