import './global.css';
import './app.js';
import { live } from './live.js';
import { tasks } from './store.js';

// The shell works offline once seen; only over https or on localhost, where
// browsers allow service workers.
if ('serviceWorker' in navigator && location.pathname.startsWith('/dashboard/')) {
  navigator.serviceWorker.register('/dashboard/sw.js', { scope: '/dashboard/' }).catch((error) => {
    console.warn('service worker not registered:', (error as Error).message);
  });
}

// For operators' scripts and the browser tests: the live connection and the
// task store, read-only.
Object.defineProperty(window, 'hive', { value: Object.freeze({ live, tasks }) });
