// What the signed-in caller may do, from GET /api/v2/dashboard/session (the
// dashboard plugin asks hive.auth/1 about each permission). Without an auth
// provider (the loopback default) everything is allowed and no sign-in is asked.
import { ApiError, get } from './api.js';

export interface SessionInfo {
  auth: boolean;
  principal: string;
  permissions: string[];
  features: string[];  // views whose API runs now
}

class Access extends EventTarget {
  info: SessionInfo | null = null;
  needsSignIn = false;

  has(feature: string): boolean {
    return this.info?.features.includes(feature) ?? false;
  }

  can(permission: string): boolean {
    if (!this.info) return false;
    return !this.info.auth || this.info.permissions.includes(permission);
  }

  async refresh(): Promise<void> {
    try {
      this.info = await get<SessionInfo>('/api/v2/dashboard/session');
      // An auth provider runs and the caller has no valid key.
      this.needsSignIn = this.info.auth && this.info.principal === '';
      if (this.needsSignIn) this.info = null;
    } catch (error) {
      this.info = null;
      this.needsSignIn = error instanceof ApiError && (error.status === 401 || error.status === 403);
      if (!this.needsSignIn) throw error;
    } finally {
      this.dispatchEvent(new Event('change'));
    }
  }
}

export const access = new Access();
