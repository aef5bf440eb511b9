// Who is signed in: the token pair (kept in localStorage), the profile, and
// signing in, up and out.

import { defineStore } from 'pinia';
import { ref } from 'vue';
import * as api from '../lib/api';
import type { SessionBody, User } from '../lib/types';

const KEY = 'herald.session';

interface Saved {
  access_token: string;
  refresh_token: string;
  user: User;
}

function load(): Saved | null {
  try {
    const saved = JSON.parse(localStorage.getItem(KEY) ?? 'null');
    if (saved && typeof saved.access_token === 'string' && saved.user) return saved as Saved;
  } catch {
    // corrupt: start signed out
  }
  return null;
}

export const useSession = defineStore('session', () => {
  const saved = load();
  const me = ref<User | null>(saved?.user ?? null);
  if (saved) api.setTokens({ access: saved.access_token, refresh: saved.refresh_token });

  function adopt(body: SessionBody): void {
    api.setTokens({ access: body.access_token, refresh: body.refresh_token });
    me.value = body.user;
    localStorage.setItem(
      KEY,
      JSON.stringify({ access_token: body.access_token, refresh_token: body.refresh_token, user: body.user }),
    );
  }

  function forget(): void {
    api.setTokens(null);
    me.value = null;
    localStorage.removeItem(KEY);
  }

  api.onSession(adopt, forget);

  async function login(username: string, password: string): Promise<void> {
    adopt(await api.post<SessionBody>('/login', { username, password }));
  }

  async function register(username: string, password: string, nickname: string): Promise<void> {
    adopt(await api.post<SessionBody>('/register', { username, password, nickname: nickname || undefined }));
  }

  /** Signs out here; Herald revokes the tokens (on every device). */
  async function logout(): Promise<void> {
    try {
      await api.post('/logout');
    } catch {
      // offline or already expired: forgetting locally is what matters
    }
    forget();
  }

  async function updateProfile(patch: Partial<Pick<User, 'nickname' | 'avatar' | 'signature'>>): Promise<void> {
    const user = await api.patch<User>('/me', patch);
    me.value = user;
    const current = load();
    if (current) localStorage.setItem(KEY, JSON.stringify({ ...current, user }));
  }

  async function changePassword(oldPassword: string, newPassword: string): Promise<void> {
    adopt(await api.put<SessionBody>('/me/password', { old_password: oldPassword, new_password: newPassword }));
  }

  /** The access token for CONNECT, refreshed when it is about to expire. */
  async function connectToken(): Promise<string | null> {
    if (api.accessTokenTtl() < 60) await api.refreshTokens();
    return api.accessToken();
  }

  return { me, login, register, logout, updateProfile, changePassword, connectToken, forget };
});
