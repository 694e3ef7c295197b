CREATE TABLE `gateway_log_files` (
	`path` text PRIMARY KEY NOT NULL,
	`inode` text,
	`offset` integer NOT NULL,
	`state` text NOT NULL,
	`message` text,
	`since` integer NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `gateway_log_lines` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`site_id` integer NOT NULL,
	`at` integer NOT NULL,
	`read_at` integer NOT NULL,
	`product` text NOT NULL,
	`kind` text NOT NULL,
	`relation` text NOT NULL,
	`upstream_id` text,
	`upstream` text,
	`message` text NOT NULL,
	`raw` text NOT NULL,
	`incident_id` integer,
	FOREIGN KEY (`site_id`) REFERENCES `sites`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `gateway_log_lines_site_idx` ON `gateway_log_lines` (`site_id`,`at`);--> statement-breakpoint
CREATE INDEX `gateway_log_lines_read_idx` ON `gateway_log_lines` (`read_at`);--> statement-breakpoint
ALTER TABLE `sites` ADD `gateway_log` text;--> statement-breakpoint
CREATE INDEX `sites_gateway_log_idx` ON `sites` (`id`) WHERE "sites"."gateway_log" IS NOT NULL AND "sites"."gateway_log" <> 'null';