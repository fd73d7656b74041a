import { api } from '../../../lib/api-client';

export interface Channel {
  id: string;
  type: string;
  name: string;
  widget_key: string;
  allowed_origins: string[];
}

/** POST /channels {type: "web_widget", name, allowed_origins} (admin). */
export function createChannel(name: string, allowedOrigins: string[]): Promise<Channel> {
  return api('POST', '/channels', { type: 'web_widget', name, allowed_origins: allowedOrigins });
}

/** The snippet a customer pastes into their site. */
export function embedSnippet(origin: string, widgetKey: string): string {
  return `<script src="${origin}/widget.js" data-widget-key="${widgetKey}" async></script>`;
}
