// Friends, friend requests, blocks, groups and their members, and a cache
// of user profiles (for names in group chats).

import { defineStore } from 'pinia';
import { computed, reactive, ref } from 'vue';
import * as api from '../lib/api';
import type { Friend, Group, GroupEntry, JoinRequest, Member, RequestEntry, Role, User } from '../lib/types';
import { displayName } from '../lib/util';

export const useContacts = defineStore('contacts', () => {
  const friends = ref<Friend[]>([]);
  const incoming = ref<RequestEntry[]>([]);
  const outgoing = ref<RequestEntry[]>([]);
  const blocked = ref<User[]>([]);
  const groups = ref<GroupEntry[]>([]);
  const members = reactive<Record<number, Member[]>>({});
  const joinRequests = reactive<Record<number, JoinRequest[]>>({});
  const users = reactive<Record<number, User>>({});
  const online = reactive<Record<number, boolean>>({});
  const loaded = ref(false);

  const friendIds = computed(() => new Set(friends.value.map((f) => f.user.id)));

  function remember(user: User | null | undefined): void {
    if (user) users[user.id] = user;
  }

  function remarkOf(id: number): string | null {
    return friends.value.find((f) => f.user.id === id)?.remark ?? null;
  }

  /** A user's name as I see it: my remark, else their nickname. */
  function nameOf(id: number): string {
    return displayName(users[id], remarkOf(id));
  }

  async function loadFriends(): Promise<void> {
    friends.value = await api.get<Friend[]>('/friends');
    for (const f of friends.value) {
      remember(f.user);
      online[f.user.id] = f.online;
    }
  }

  async function loadRequests(): Promise<void> {
    const [inbound, outbound] = await Promise.all([
      api.get<RequestEntry[]>('/friend-requests?direction=incoming'),
      api.get<RequestEntry[]>('/friend-requests?direction=outgoing'),
    ]);
    incoming.value = inbound;
    outgoing.value = outbound;
    for (const r of [...inbound, ...outbound]) remember(r.user);
  }

  async function loadBlocks(): Promise<void> {
    blocked.value = await api.get<User[]>('/blocks');
  }

  async function loadGroups(): Promise<GroupEntry[]> {
    groups.value = await api.get<GroupEntry[]>('/groups');
    return groups.value;
  }

  async function loadAll(): Promise<void> {
    await Promise.all([loadFriends(), loadRequests(), loadBlocks(), loadGroups()]);
    loaded.value = true;
  }

  async function loadMembers(group: number): Promise<Member[]> {
    const list = await api.get<Member[]>(`/groups/${group}/members`);
    members[group] = list;
    for (const m of list) {
      remember(m.user);
      online[m.user.id] = m.online;
    }
    return list;
  }

  async function ensureUser(id: number): Promise<void> {
    if (users[id]) return;
    try {
      remember(await api.get<User>(`/users/${id}`));
    } catch {
      // not visible: shown as "Someone"
    }
  }

  function groupById(id: number): Group | null {
    return groups.value.find((g) => g.group.id === id)?.group ?? null;
  }

  function roleIn(group: number): Role | null {
    return groups.value.find((g) => g.group.id === group)?.role ?? null;
  }

  async function search(q: string): Promise<User[]> {
    const found = await api.get<User[]>(`/users?q=${encodeURIComponent(q)}`);
    for (const u of found) remember(u);
    return found;
  }

  async function sendRequest(to: number, greeting: string): Promise<void> {
    await api.post('/friend-requests', { to, greeting });
    await loadRequests();
  }

  async function answer(id: number, accept: boolean): Promise<void> {
    await api.post(`/friend-requests/${id}/${accept ? 'accept' : 'reject'}`);
    await Promise.all([loadRequests(), loadFriends()]);
  }

  async function setRemark(id: number, remark: string): Promise<void> {
    await api.put(`/friends/${id}/remark`, { remark: remark.trim() || null });
    await loadFriends();
  }

  async function unfriend(id: number): Promise<void> {
    await api.del(`/friends/${id}`);
    await loadFriends();
  }

  async function block(id: number): Promise<void> {
    await api.put(`/blocks/${id}`);
    await Promise.all([loadBlocks(), loadFriends()]);
  }

  async function unblock(id: number): Promise<void> {
    await api.del(`/blocks/${id}`);
    await loadBlocks();
  }

  async function createGroup(name: string, memberIds: number[], announcement: string): Promise<Group> {
    const group = await api.post<Group>('/groups', { name, members: memberIds, announcement });
    await loadGroups();
    return group;
  }

  async function invite(group: number, userIds: number[]): Promise<void> {
    await api.post(`/groups/${group}/members`, { user_ids: userIds });
    await loadMembers(group);
  }

  async function updateGroup(group: number, patch: Partial<Pick<Group, 'name' | 'announcement' | 'muted_all' | 'join_approval'>>): Promise<void> {
    await api.patch(`/groups/${group}`, patch);
    await loadGroups();
  }

  async function setRole(group: number, user: number, role: Role): Promise<void> {
    await api.put(`/groups/${group}/members/${user}/role`, { role });
    await loadMembers(group);
  }

  async function setMuted(group: number, user: number, muted: boolean): Promise<void> {
    await api.put(`/groups/${group}/members/${user}/mute`, { muted });
    await loadMembers(group);
  }

  async function removeMember(group: number, user: number): Promise<void> {
    await api.del(`/groups/${group}/members/${user}`);
  }

  async function dissolve(group: number): Promise<void> {
    await api.del(`/groups/${group}`);
  }

  async function loadJoinRequests(group: number): Promise<void> {
    joinRequests[group] = (await api.get<JoinRequest[]>(`/groups/${group}/join-requests`)).filter(
      (r) => r.status === 'pending',
    );
    await Promise.all(joinRequests[group].map((r) => ensureUser(r.user)));
  }

  async function answerJoin(group: number, id: number, accept: boolean): Promise<void> {
    await api.post(`/join-requests/${id}/${accept ? 'accept' : 'reject'}`);
    await Promise.all([loadJoinRequests(group), loadMembers(group)]);
  }

  function setOnline(user: number, value: boolean): void {
    online[user] = value;
    for (const f of friends.value) if (f.user.id === user) f.online = value;
    for (const list of Object.values(members)) for (const m of list) if (m.user.id === user) m.online = value;
  }

  function reset(): void {
    friends.value = [];
    incoming.value = [];
    outgoing.value = [];
    blocked.value = [];
    groups.value = [];
    for (const key of Object.keys(members)) delete members[Number(key)];
    for (const key of Object.keys(joinRequests)) delete joinRequests[Number(key)];
    loaded.value = false;
  }

  return {
    friends, incoming, outgoing, blocked, groups, members, joinRequests, users, online, loaded, friendIds,
    remember, remarkOf, nameOf, loadFriends, loadRequests, loadBlocks, loadGroups, loadAll, loadMembers,
    ensureUser, groupById, roleIn, search, sendRequest, answer, setRemark, unfriend, block, unblock,
    createGroup, invite, updateGroup, setRole, setMuted, removeMember, dissolve, loadJoinRequests, answerJoin,
    setOnline, reset,
  };
});
