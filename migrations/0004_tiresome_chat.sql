CREATE TABLE `check_chunks` (
	`id` integer PRIMARY KEY NOT NULL,
	`last` integer NOT NULL,
	`ids` text NOT NULL
);
--> statement-breakpoint
CREATE TABLE `check_details` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`body` text NOT NULL,
	`seen_at` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `check_details_body_unique` ON `check_details` (`body`);--> statement-breakpoint
CREATE TABLE `raw_checks` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`tk` integer NOT NULL,
	`t` integer NOT NULL,
	`o` integer NOT NULL,
	`st` integer,
	`dns` integer,
	`con` integer,
	`tls` integer,
	`ttfb` integer,
	`tot` integer,
	`d` integer NOT NULL,
	`inc` integer
);
--> statement-breakpoint
CREATE INDEX `raw_checks_incident_idx` ON `raw_checks` (`inc`) WHERE "raw_checks"."inc" IS NOT NULL;--> statement-breakpoint
DROP INDEX `checks_site_time_idx`;--> statement-breakpoint
DROP INDEX `checks_time_idx`;--> statement-breakpoint
DROP INDEX `checks_incident_idx`;