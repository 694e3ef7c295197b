DROP INDEX `sites_gateway_log_idx`;--> statement-breakpoint
CREATE INDEX `sites_gateway_log_idx` ON `sites` (`id`) WHERE "sites"."gateway_log" IS NOT NULL AND "sites"."gateway_log" <> 'null';