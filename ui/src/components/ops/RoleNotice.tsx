/** What a page says to a role below the one it needs (the API would refuse its calls: 403). */
import type { Role } from '../../api/types.js';

export function RoleNotice({ title, needed, role }: { title: string; needed: Role; role: Role }) {
  return (
    <>
      <h1>{title}</h1>
      <p class="message message-notice" role="status">
        This page needs the role <strong>{needed}</strong>; you are logged in as <strong>{role}</strong>.
      </p>
    </>
  );
}
